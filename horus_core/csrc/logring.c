/*
** logring.c: the namespace's log ring, written by every process at once.
**
** Layout (version 2, native byte order: a transient, machine-local segment):
**
**   offset  size  field
**   0       4     magic        "HRSL" (0x4C535248 as little-endian u32)
**   4       4     version      HORUS_LOGRING_VERSION; other: HORUS_ECORRUPT, "run horus clean --shm"
**   8       4     header_size  128
**   12      4     capacity     records, a power of two
**   16      4     record_size  512
**   20      44    (reserved, zero)
**   64      8     head         next sequence number; writers fetch_add it (any process)
**   72      56    (reserved, zero)
**   128     ...   capacity records of 512 bytes:
**                   0   8    seq        [SEQLOCK] word (hatomic.h), claimed by CAS
**                   8   8    time_ns    CLOCK_REALTIME
**                   16  8    tick
**                   24  4    pid
**                   28  1    level
**                   29  1    truncated
**                   30  2    msg_len
**                   32  48   node       NUL-padded
**                   80  4    checksum   of bytes 8..80 and the message: fnv1a_words, folded
**                                         to 32 bits (version 1: FNV-1a a byte at a time)
**                   84  428  msg
**
** WARNING: changing any of this changes the format: bump HORUS_LOGRING_VERSION.
**
** Many writers: a writer takes sequence n from head, then claims its slot with
** hseq_write_claim (CAS from any older value to HSEQ_WRITING(n)); if a newer
** lap already owns the slot, its own record is the one lost (the ring keeps
** the newest). A slow writer can still be overtaken mid-write by one a whole
** lap later; the two then write the same bytes at once. The [SEQLOCK] check
** cannot see that, so readers also verify the checksum and drop a record that
** fails it. A writer killed between taking n and finishing leaves its slot
** below HSEQ_DONE(n) until a later lap reuses it: readers get HORUS_ERETRY
** for it and decide when to give up on it.
**
** Hostile bytes. Any process of the user can rewrite the ring or truncate it
** ([SHRINK GUARD], segment.c: it grows back zeroed, head 0). The capacity is a
** private copy; a record's msg_len is cut to HORUS_LOG_MSG_MAX and the record
** then checksummed; a head at or above HSEQ_MAX is reset to 0 by the next
** writer (a record numbered there would wrap its seq word); a head below a
** reader's position (a true one never moves back) moves the reader back to
** it; and horus_logring_read makes at most capacity + 2 passes. A head merely
** far ahead (2^40) leaves slots that look unwritten, HORUS_ERETRY each:
** readers bound the time they give those in all (horus/observability/logring.py).
*/
#define _GNU_SOURCE
#include "hatomic.h"
#include "horus.h"
#include "segment.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define LOGRING_MAGIC 0x4C535248u
#define HORUS_LOGRING_VERSION 2u
#define RECORD_SIZE 512u

typedef struct log_header {
  uint32_t magic;
  uint32_t version;
  uint32_t header_size;
  uint32_t capacity;
  uint32_t record_size;
  uint8_t reserved0[44];
  hatomic_u64 head; /* fetch_add by every writer */
  uint8_t reserved1[56];
} log_header;

typedef struct log_slot {
  hatomic_u64 seq;
  uint64_t time_ns;
  uint64_t tick;
  uint32_t pid;
  uint8_t level;
  uint8_t truncated;
  uint16_t msg_len;
  char node[HORUS_LOG_NODE_MAX + 1];
  uint32_t checksum;
  char msg[HORUS_LOG_MSG_MAX + 1];
} log_slot;

_Static_assert(sizeof(log_header) == 128, "logring v2: header is 128 bytes");
_Static_assert(offsetof(log_header, version) == 4, "logring v2: version at 4");
_Static_assert(offsetof(log_header, header_size) == 8, "logring v2: header_size at 8");
_Static_assert(offsetof(log_header, capacity) == 12, "logring v2: capacity at 12");
_Static_assert(offsetof(log_header, record_size) == 16, "logring v2: record_size at 16");
_Static_assert(offsetof(log_header, head) == 64, "logring v2: head at 64");
_Static_assert(offsetof(log_slot, time_ns) == 8, "logring v2: time_ns at 8");
_Static_assert(offsetof(log_slot, tick) == 16, "logring v2: tick at 16");
_Static_assert(offsetof(log_slot, pid) == 24, "logring v2: pid at 24");
_Static_assert(offsetof(log_slot, level) == 28, "logring v2: level at 28");
_Static_assert(offsetof(log_slot, truncated) == 29, "logring v2: truncated at 29");
_Static_assert(offsetof(log_slot, msg_len) == 30, "logring v2: msg_len at 30");
_Static_assert(offsetof(log_slot, node) == 32, "logring v2: node at 32");
_Static_assert(offsetof(log_slot, checksum) == 80, "logring v2: checksum at 80");
_Static_assert(offsetof(log_slot, msg) == 84, "logring v2: msg at 84");
_Static_assert(sizeof(log_slot) == RECORD_SIZE, "logring v2: records are 512 bytes");


struct horus_logring {
  hseg seg;
  log_header *hdr;
  uint32_t capacity; /* the header's, checked at open: indexes never read it from shared memory again */
  uint32_t pid;      /* getpid() is a system call; a forked child opens its own ring */
};

/*
** FNV-1a's step (xor, then multiply by the 64-bit FNV prime) taken a 64-bit
** word at a time, then over the last bytes. Each step is a bijection of the
** state for a given input, so a record that differs in any one word always
** ends in another 64-bit state. A byte at a time cost a log line 0.1 us.
*/
static uint64_t fnv1a_words(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (; n >= 8; n -= 8, b += 8) {
    uint64_t w;
    memcpy(&w, b, 8); /* the message is not 8-byte aligned: memcpy is the portable unaligned load */
    h = (h ^ w) * 0x100000001b3u;
  }
  for (; n > 0; n--, b++) h = (h ^ *b) * 0x100000001b3u;
  return h;
}

static uint32_t checksum(const log_slot *s, uint16_t msg_len) {
  uint64_t h = fnv1a_words(0xcbf29ce484222325u, (const char *)s + 8, offsetof(log_slot, checksum) - 8);
  h = fnv1a_words(h, s->msg, msg_len);
  return (uint32_t)(h ^ (h >> 32));
}

static void init_ring(void *map, size_t len, const void *arg) {
  (void)len;
  log_header *h = map;
  h->version = HORUS_LOGRING_VERSION;
  h->header_size = sizeof(log_header);
  h->capacity = *(const uint32_t *)arg;
  h->record_size = RECORD_SIZE;
  h->magic = LOGRING_MAGIC;
}

int horus_logring_open(const char *path, uint32_t capacity, int create, horus_logring **out, char *err) {
  if (!capacity) capacity = HORUS_LOG_DEFAULT_CAPACITY;
  if (capacity & (capacity - 1)) {
    hseg_err(err, "log ring capacity %u must be a power of two", capacity);
    return HORUS_EINVAL;
  }
  horus_logring *r = calloc(1, sizeof *r);
  if (!r) {
    hseg_err(err, "out of memory"); /* errno is calloc's ENOMEM */
    return HORUS_ESYS;
  }
  r->seg = (hseg)HSEG_INIT;
  size_t len = sizeof(log_header) + (size_t)capacity * RECORD_SIZE;
  int rc = HORUS_ERETRY;
  uint32_t cap = 0; /* the header's capacity, loaded once, checked, then the only one used */
  for (int attempt = 0; attempt < 4 && rc == HORUS_ERETRY; attempt++) {
    rc = hseg_open(path, len, init_ring, &capacity, create, &r->seg, err);
    log_header *h = r->seg.map;
    cap = rc == HORUS_OK && r->seg.len >= sizeof *h ? READ_ONCE(h->capacity) : 0;
    if (rc == HORUS_OK && (r->seg.len < sizeof *h || h->magic != LOGRING_MAGIC || h->version != HORUS_LOGRING_VERSION ||
                           h->record_size != RECORD_SIZE || !cap || (cap & (cap - 1)) ||
                           sizeof *h + (size_t)cap * RECORD_SIZE != r->seg.len)) {
      /* Another version's ring: replace it if nobody uses it any more. */
      rc = hseg_drop_if_stale(&r->seg, path) ? HORUS_ERETRY : HORUS_ECORRUPT;
      if (rc == HORUS_ECORRUPT)
        hseg_err(err, "%s is the log ring of a running process of another HORUS version: restart the robot's "
                 "processes on one version", path);
    }
  }
  log_header *h = r->seg.map;
  if (rc != HORUS_OK) {
    hseg_close(&r->seg);
    free(r);
    return rc;
  }
  r->hdr = h;
  r->capacity = cap;
  /* [SHRINK GUARD]: the bytes before head are constants (reserved ones zero) and come back after a repair. */
  horus_shm_guard_header(r->seg.guard, offsetof(log_header, head));
  r->pid = (uint32_t)getpid();
  *out = r;
  return HORUS_OK;
}

void horus_logring_close(horus_logring *r) {
  if (!r) return;
  hseg_close(&r->seg);
  free(r);
}

static log_slot *slot_at(const horus_logring *r, uint64_t n) {
  return (log_slot *)((char *)r->hdr + sizeof(log_header) + (size_t)(n & (r->capacity - 1u)) * RECORD_SIZE);
}

uint64_t horus_logring_head(const horus_logring *r) {
  /* Relaxed: head only hands out sequence numbers; a record's contents are
  ** ordered by its own seq word, read with acquire in horus_logring_read. */
  return hatomic_load_relaxed(&r->hdr->head);
}

uint32_t horus_logring_capacity(const horus_logring *r) { return r->capacity; }

void horus_logring_append(horus_logring *r, uint8_t level, const char *node, uint64_t tick, const char *msg,
                          size_t len) {
  hseg_restore_header(&r->seg); /* a header rewritten by another process: new readers could not open the ring */
  uint64_t n = hatomic_add_relaxed(&r->hdr->head, 1);
  if (n >= HSEQ_MAX) {
    /* A corrupt head: restart the numbering (readers move back with it). Relaxed like the add:
    ** it only hands out numbers. Of writers racing here one resets it; this record is lost. */
    uint64_t seen = n + 1u;
    hatomic_cas_relaxed(&r->hdr->head, &seen, 0);
    return;
  }
  log_slot *s = slot_at(r, n);
  if (!hseq_write_claim(&s->seq, n)) return; /* [SEQLOCK]: a newer lap owns the slot, ours is the record lost */
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  s->time_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
  s->tick = tick;
  s->pid = r->pid;
  s->level = level;
  s->truncated = len > HORUS_LOG_MSG_MAX;
  s->msg_len = (uint16_t)(s->truncated ? HORUS_LOG_MSG_MAX : len);
  memset(s->node, 0, sizeof s->node);
  strncpy(s->node, node, HORUS_LOG_NODE_MAX);
  if (s->msg_len) memcpy(s->msg, msg, s->msg_len); /* msg may be NULL when len is 0 */
  s->checksum = checksum(s, s->msg_len);
  hseq_write_end_claimed(&s->seq, n); /* [SEQLOCK] writer end, unless a lap ahead took the slot */
}

int horus_logring_read(const horus_logring *r, uint64_t *next, uint64_t *missed, horus_log_record *out) {
  uint32_t cap = r->capacity;
  /* Each pass but a copy overwritten mid-way moves *next one closer to a head at most cap ahead;
  ** capacity + 2 passes bound it even against a process rewriting seq words without pause. */
  for (uint64_t pass = 0; pass < (uint64_t)cap + 2u; pass++) {
    uint64_t head = horus_logring_head(r);
    if (*next > head) *next = head; /* moved back: the ring was truncated or rewritten */
    if (*next >= head || head >= HSEQ_MAX) return HORUS_EMPTY;
    if (head - *next > cap) {
      *missed += head - cap - *next;
      *next = head - cap;
    }
    const log_slot *s = slot_at(r, *next);
    uint64_t seq = hseq_read_begin(&s->seq); /* [SEQLOCK] reader begin */
    if (seq > HSEQ_DONE(*next)) { /* overwritten by a newer lap */
      (*missed)++;
      (*next)++;
      continue;
    }
    if (seq != HSEQ_DONE(*next)) return HORUS_ERETRY;
    log_slot copy;
    memcpy(&copy, s, sizeof copy); /* races the writers: [PAYLOAD RACE]; nothing in it is used before the checks */
    if (!hseq_read_valid(&s->seq, seq)) continue; /* [SEQLOCK] reader end: overwritten while copying */
    (*next)++;
    uint16_t len = copy.msg_len > HORUS_LOG_MSG_MAX ? HORUS_LOG_MSG_MAX : copy.msg_len;
    if (copy.checksum != checksum(&copy, len)) { /* two writers a lap apart mixed it: drop it */
      (*missed)++;
      continue;
    }
    out->seq = *next - 1;
    out->time_ns = copy.time_ns;
    out->tick = copy.tick;
    out->pid = copy.pid;
    out->level = copy.level;
    out->truncated = copy.truncated;
    out->msg_len = len;
    memcpy(out->node, copy.node, sizeof out->node);
    out->node[HORUS_LOG_NODE_MAX] = '\0';
    memcpy(out->msg, copy.msg, len);
    out->msg[len] = '\0';
    return HORUS_OK;
  }
  return HORUS_EMPTY;
}

/* ---- The stderr copy of a record ------------------------------------------------ */

const char *horus_log_level_name(long level) {
  switch (level) {
  case 10: return "DEBUG";
  case 20: return "INFO";
  case 30: return "WARNING";
  case 40: return "ERROR";
  default: return NULL;
  }
}

/* writev all of iov[0..n) (n > 0, some bytes to write), resuming after short writes and signals. */
static int writev_all(int fd, struct iovec *iov, int n) {
  while (n > 0) {
    /* One buffer: write(2), which the kernel serves faster than a writev of one iovec (measured). */
    ssize_t got = n == 1 ? write(fd, iov->iov_base, iov->iov_len) : writev(fd, iov, n);
    if (got < 0) {
      if (errno == EINTR) continue;
      return HORUS_ESYS;
    }
    if (got == 0) { /* no progress on a non-empty request: give up rather than spin */
      errno = EIO;
      return HORUS_ESYS;
    }
    for (; n > 0 && (size_t)got >= iov->iov_len; iov++, n--) got -= (ssize_t)iov->iov_len;
    if (n > 0) {
      iov->iov_base = (char *)iov->iov_base + got;
      iov->iov_len -= (size_t)got;
    }
  }
  return HORUS_OK;
}

/* Lines up to this long are assembled on the stack and written with one write(2). */
#define LINE_MAX_STACK 1024u

int horus_log_write_line(int fd, long level, const char *node, size_t node_len, const char *msg, size_t len) {
  char tag[32] = "[";
  const char *name = horus_log_level_name(level);
  size_t tag_len;
  if (name) { /* the common case, without snprintf's cost */
    size_t n = strlen(name);
    memcpy(tag + 1, name, n);
    memcpy(tag + 1 + n, "] ", 2);
    tag_len = n + 3;
  } else {
    tag_len = (size_t)snprintf(tag, sizeof tag, "[%ld] ", level);
  }
  struct iovec iov[5] = {
      {tag, tag_len}, {(void *)node, node_len}, {": ", 2}, {(void *)msg, len}, {"\n", 1},
  };
  size_t total = tag_len + node_len + 2 + len + 1;
  if (total > LINE_MAX_STACK) return writev_all(fd, iov, 5);
  /* Copying a short line costs less than the kernel's walk over five iovecs. */
  char line[LINE_MAX_STACK];
  size_t at = 0;
  for (int k = 0; k < 5; k++) {
    if (iov[k].iov_len) memcpy(line + at, iov[k].iov_base, iov[k].iov_len); /* node or msg may be NULL when empty */
    at += iov[k].iov_len;
  }
  struct iovec whole = {line, at};
  return writev_all(fd, &whole, 1);
}
