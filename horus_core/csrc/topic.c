/*
** topic.c: a topic is a ring of fixed-size slots in one shared-memory file.
**
** Segment layout (version 2). Native byte order: the segment is transient and
** only ever shared between processes of one machine.
**
**   offset  size  field
**   0       4     magic        "HRST" (0x54535248 read as little-endian u32)
**   4       4     version      HORUS_TOPIC_VERSION; a segment of another version is
**                              replaced when no process holds it, else HORUS_ECORRUPT
**   8       4     header_size  offset of slot 0 (128)
**   12      4     slot_size    max payload bytes per message
**   16      4     capacity     slots in the ring, a power of two
**   20      4     format       payload format id, chosen by the creator
**   24      4     slot_stride  bytes from one slot to the next (64-aligned)
**   28      4     creator_pid
**   32      8     publisher    pid of the process holding the publisher claim (0: none
**                              yet); informational, for error messages only
**   40      24    (reserved, zero)
**   64      8     head         messages published so far; only the publisher writes it
**   72      4     waiters      subscribers asleep in horus_topic_wait; see [DOORBELL]
**   76      4     doorbell     futex word the publisher bumps to wake them
**   80      48    (reserved, zero: keeps these on a cache line of their own)
**   128     ...   capacity slots of slot_stride bytes each:
**                   0   8  seq       seqlock word, see [SEQLOCK]
**                   8   8  stamp_ns  CLOCK_MONOTONIC at publish
**                   16  4  len       payload bytes
**                   20  12 (reserved)
**                   32  .. payload   slot_size bytes
**
** WARNING: changing any offset, size or constant here changes the format:
** bump HORUS_TOPIC_VERSION so old segments are refused, not misread.
**
** [SEQLOCK] (hatomic.h, where the protocol and its fences are defined once)
** guards each slot: message n lives in slot n & (capacity-1), and its seq word
** goes HSEQ_WRITING(n) while the publisher writes it, HSEQ_DONE(n) once it is
** complete. One publisher, so the plain hseq_write_begin/end. A subscriber's
** copy spans two calls: horus_topic_peek loads seq (hseq_read_begin) and
** hands out a view, the caller copies the payload (module.c), and
** horus_topic_confirm rechecks seq (hseq_read_valid). That copy races the
** publisher on purpose: [PAYLOAD RACE] in hatomic.h says why a copy that
** passes confirm is the message as published, and why the race is tolerated.
** The writer never waits for readers; readers only ever retry.
**
** [DOORBELL] Waking sleeping subscribers without a system call per message
** when nobody sleeps. A waiter reads doorbell, increments waiters, issues a
** full fence and checks head; only if nothing is new does it futex-wait on
** doorbell (which returns at once if doorbell moved since it was read). The
** publisher stores head, issues a full fence, and only if waiters is nonzero
** bumps doorbell and wakes them. The two full fences make it impossible for
** both sides to miss each other (store-load order, which release/acquire
** alone does not give). Futexes on a MAP_SHARED file work across processes.
**
** There is one publisher per topic at a time (an OFD write lock on byte 0 of
** the file), so no two writers ever race on a slot. A publisher killed in the
** middle of a write leaves that slot at HSEQ_WRITING(head) and head unchanged:
** readers see "nothing new", and the next publisher rewrites the same slot.
** Subscribers leave no trace in the segment: each handle that reads holds an
** OFD read lock on HORUS_SUBSCRIBER_BYTE (horus.h), which only counters look at.
**
** Hostile bytes. Any process of the user can write any byte of the file, or
** truncate it ([SHRINK GUARD], segment.c: the file grows back, zeroed). The
** geometry is a private copy (horus.h), the publisher counts its messages
** itself (it reads head only when it claims the topic), and readers bound
** everything else they load:
**   [HEAD CHECK] A head h > 0 is trusted only if h < HSEQ_MAX and slot h-1's
**   seq, loaded after h, is HSEQ_DONE(h-1) or above: the publisher stores
**   that seq before h (release; the reader's acquire load of head pairs with
**   it), and the slot is rewritten only for message h-1+capacity, after head
**   passed that. A head that fails was not written by the publisher: readers
**   see "no message" until its next publish stores a true one.
**   A head below a cursor (a true one never moves back, and a cursor never
**   passes the head it read) means the segment was truncated or rewritten:
**   the cursor moves back to it rather than wait for the head to catch up.
**   Each horus_topic_peek makes at most capacity + 2 passes, and a slot's len
**   is checked against the private slot size ([PAYLOAD RACE]).
** Bytes forged to pass these checks (a head with a matching seq) can show
** subscribers messages the publisher never sent, or make them skip some:
** they cannot make any process read or write outside its mapping, crash, or
** loop without end.
*/
#define _GNU_SOURCE
#include "horus.h"
#include "hatomic.h"
#include "segment.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/* glibc 2.17 headers predate OFD locks; the kernel (3.15+) has them. */
#ifndef F_OFD_SETLK
#define F_OFD_GETLK 36
#define F_OFD_SETLK 37
#endif

#define TOPIC_MAGIC 0x54535248u

typedef struct topic_header {
  uint32_t magic;
  uint32_t version;
  uint32_t header_size;
  uint32_t slot_size;
  uint32_t capacity;
  uint32_t format;
  uint32_t slot_stride;
  uint32_t creator_pid;
  hatomic_u64 publisher; /* written by the claim holder; read only to name it in errors */
  uint8_t reserved0[24];
  hatomic_u64 head;     /* written only by the publisher, with release: [SEQLOCK] */
  hatomic_u32 waiters;  /* [DOORBELL] */
  hatomic_u32 doorbell; /* [DOORBELL] */
  uint8_t reserved1[48];
} topic_header;

typedef struct slot_header {
  hatomic_u64 seq;   /* [SEQLOCK] */
  uint64_t stamp_ns; /* written by the publisher between HSEQ_WRITING and HSEQ_DONE */
  uint32_t len;      /* likewise */
  uint8_t reserved[12];
} slot_header;

_Static_assert(offsetof(topic_header, version) == 4, "layout v2: version at 4");
_Static_assert(offsetof(topic_header, header_size) == 8, "layout v2: header_size at 8");
_Static_assert(offsetof(topic_header, slot_size) == 12, "layout v2: slot_size at 12");
_Static_assert(offsetof(topic_header, capacity) == 16, "layout v2: capacity at 16");
_Static_assert(offsetof(topic_header, format) == 20, "layout v2: format at 20");
_Static_assert(offsetof(topic_header, slot_stride) == 24, "layout v2: slot_stride at 24");
_Static_assert(offsetof(topic_header, creator_pid) == 28, "layout v2: creator_pid at 28");
_Static_assert(offsetof(topic_header, publisher) == 32, "layout v2: publisher at 32");
_Static_assert(offsetof(topic_header, head) == 64, "layout v2: head at 64");
_Static_assert(offsetof(topic_header, waiters) == 72, "layout v2: waiters at 72");
_Static_assert(offsetof(topic_header, doorbell) == 76, "layout v2: doorbell at 76");
_Static_assert(sizeof(topic_header) == 128, "layout v2: header is 128 bytes");
_Static_assert(offsetof(slot_header, stamp_ns) == 8, "layout v2: slot stamp_ns at 8");
_Static_assert(offsetof(slot_header, len) == 16, "layout v2: slot len at 16");
_Static_assert(sizeof(slot_header) == 32, "layout v2: slot header is 32 bytes");


/*
** The ring's geometry, copied from the header when it was checked: every index
** and bound the core computes comes from this private copy, never again from
** shared memory, where another process of the same user could rewrite it under
** a running publisher or subscriber.
*/
typedef struct topic_geometry {
  uint32_t slot_size, capacity, stride, format;
} topic_geometry;

struct horus_topic {
  hseg seg;
  int publisher;
  int subscriber; /* horus_topic_subscribe took its lock */
  uint64_t pub_next; /* the publisher's count of its messages: head is written from it, never read back */
  topic_header *hdr;
  topic_geometry geo;
  char name[HORUS_NAME_MAX + 1];
};

static int is_pow2(uint32_t v) { return v && !(v & (v - 1)); }

static uint32_t stride_for(uint32_t slot_size) {
  return (uint32_t)((sizeof(slot_header) + (uint64_t)slot_size + 63u) & ~(uint64_t)63u);
}

static size_t segment_len(uint32_t slot_size, uint32_t capacity) {
  return sizeof(topic_header) + (size_t)stride_for(slot_size) * capacity;
}

static slot_header *slot_at(const horus_topic *t, uint64_t seq) {
  size_t idx = (size_t)(seq & (t->geo.capacity - 1u));
  return (slot_header *)((char *)t->hdr + sizeof(topic_header) + idx * t->geo.stride);
}

static int join_path(char *out, size_t outlen, const char *dir, const char *name, char *err) {
  if (!*name || strlen(name) > HORUS_NAME_MAX || strchr(name, '/') || name[0] == '.') {
    hseg_err(err, "invalid topic file name '%s': 1-%d characters, no '/', not starting with '.'", name,
             HORUS_NAME_MAX);
    return HORUS_EINVAL;
  }
  if ((size_t)snprintf(out, outlen, "%s/%s", dir, name) >= outlen) {
    hseg_err(err, "topic path too long: %s/%s", dir, name);
    return HORUS_EINVAL;
  }
  return HORUS_OK;
}

/* Check that an attached segment's header is one we can read. */
static int check_header(horus_topic *t, char *err) {
  const topic_header *h = t->seg.map;
  const char *name = t->name;
  if (t->seg.len < sizeof(topic_header) || h->magic != TOPIC_MAGIC) {
    hseg_err(err, "topic '%s': not a HORUS topic segment: run horus clean --shm", name);
    return HORUS_ECORRUPT;
  }
  if (h->version != HORUS_TOPIC_VERSION) {
    hseg_err(err, "topic '%s': a process of another HORUS version (layout %u, this is %u) uses it: "
             "restart every process of the robot on one version",
             name, h->version, HORUS_TOPIC_VERSION);
    return HORUS_ECORRUPT;
  }
  topic_geometry g = {READ_ONCE(h->slot_size), READ_ONCE(h->capacity), READ_ONCE(h->slot_stride),
                      READ_ONCE(h->format)};
  if (READ_ONCE(h->header_size) != sizeof(topic_header) || !is_pow2(g.capacity) || g.slot_size > HORUS_MAX_SLOT_SIZE ||
      g.stride != stride_for(g.slot_size) || segment_len(g.slot_size, g.capacity) != t->seg.len) {
    hseg_err(err, "topic '%s': header does not match the file size: run horus clean --shm", name);
    return HORUS_ECORRUPT;
  }
  t->geo = g;
  t->hdr = t->seg.map;
  /* [SHRINK GUARD]: magic to creator_pid are constants and come back after a repair. */
  horus_shm_guard_header(t->seg.guard, offsetof(topic_header, publisher));
  return HORUS_OK;
}

/* hseg_init_fn for a new topic: slots stay zero (seq 0 = never written). */
static void init_topic(void *map, size_t len, const void *arg) {
  (void)len;
  const horus_topic_cfg *cfg = arg;
  topic_header *h = map;
  h->version = HORUS_TOPIC_VERSION;
  h->header_size = sizeof(topic_header);
  h->slot_size = cfg->slot_size;
  h->capacity = cfg->capacity;
  h->format = cfg->format;
  h->slot_stride = stride_for(cfg->slot_size);
  h->creator_pid = (uint32_t)getpid();
  h->magic = TOPIC_MAGIC;
}

static int layout_matches(const topic_geometry *g, const horus_topic_cfg *cfg) {
  return (!cfg->slot_size || cfg->slot_size == g->slot_size) && (!cfg->capacity || cfg->capacity == g->capacity) &&
         (!cfg->format || cfg->format == g->format);
}

static int check_cfg(const char *name, const horus_topic_cfg *cfg, char *err) {
  if (cfg->slot_size > HORUS_MAX_SLOT_SIZE) {
    hseg_err(err, "topic '%s': slot size %u exceeds the maximum %u", name, cfg->slot_size, HORUS_MAX_SLOT_SIZE);
    return HORUS_EINVAL;
  }
  if (cfg->capacity && (!is_pow2(cfg->capacity) || cfg->capacity > (1u << 20))) {
    hseg_err(err, "topic '%s': capacity %u must be a power of two up to 1048576", name, cfg->capacity);
    return HORUS_EINVAL;
  }
  return HORUS_OK;
}

/* A segment we hold shared whose layout we cannot use: replace it if it is stale. */
static int replace_if_stale(horus_topic *t, const char *path, const horus_topic_cfg *cfg, char *err) {
  const topic_geometry *g = &t->geo;
  if (!hseg_drop_if_stale(&t->seg, path)) {
    hseg_err(err,
             "topic '%s' is in use with slot size %u, capacity %u, format %u; this process asked for %u, %u, %u: "
             "use the same max_msg_size/capacity in every process, or stop the others and run horus clean --shm",
             t->name, g->slot_size, g->capacity, g->format, cfg->slot_size, cfg->capacity, cfg->format);
    return HORUS_ELAYOUT;
  }
  return HORUS_ERETRY; /* it was a leftover from an older config, now gone */
}

int horus_topic_open(const char *dir, const char *name, const horus_topic_cfg *cfg, horus_topic **out,
                     char *err) {
  char path[4096];
  int rc = join_path(path, sizeof path, dir, name, err);
  if (rc == HORUS_OK) rc = check_cfg(name, cfg, err);
  if (rc != HORUS_OK) return rc;
  horus_topic *t = calloc(1, sizeof *t);
  if (!t) {
    hseg_err(err, "out of memory");
    return HORUS_ESYS;
  }
  t->seg = (hseg)HSEG_INIT;
  snprintf(t->name, sizeof t->name, "%s", name);
  horus_topic_cfg full = *cfg;
  if (!full.slot_size) full.slot_size = HORUS_DEFAULT_SLOT_SIZE;
  if (!full.capacity) full.capacity = HORUS_DEFAULT_CAPACITY;
  for (int attempt = 0; attempt < 4; attempt++) {
    rc = hseg_open(path, segment_len(full.slot_size, full.capacity), init_topic, &full, cfg->create, &t->seg, err);
    if (rc == HORUS_OK) rc = check_header(t, err);
    if (rc == HORUS_ECORRUPT && hseg_drop_if_stale(&t->seg, path)) rc = HORUS_ERETRY;
    if (rc == HORUS_OK && !layout_matches(&t->geo, cfg)) rc = replace_if_stale(t, path, cfg, err);
    if (rc != HORUS_ERETRY) break;
  }
  if (rc != HORUS_OK) {
    hseg_close(&t->seg);
    free(t);
    return rc;
  }
  *out = t;
  return HORUS_OK;
}

void horus_topic_close(horus_topic *t) {
  if (!t) return;
  hseg_close(&t->seg);
  free(t);
}

uint32_t horus_topic_slot_size(const horus_topic *t) { return t->geo.slot_size; }
uint32_t horus_topic_capacity(const horus_topic *t) { return t->geo.capacity; }
uint32_t horus_topic_format(const horus_topic *t) { return t->geo.format; }

/* A head that fails [HEAD CHECK]. */
#define HEAD_UNTRUSTED UINT64_MAX

/* The head as the publisher stored it, or HEAD_UNTRUSTED: [HEAD CHECK]. */
static uint64_t trusted_head(const horus_topic *t) {
  /* Pairs with the publisher's release store of head in horus_topic_publish. */
  uint64_t h = hatomic_load_acquire(&t->hdr->head);
  if (h == 0) return 0;
  if (h >= HSEQ_MAX) return HEAD_UNTRUSTED;
  /* Acquire, like any [SEQLOCK] reader begin; after the head load, which the acquire above orders. */
  return hseq_read_begin(&slot_at(t, h - 1)->seq) >= HSEQ_DONE(h - 1) ? h : HEAD_UNTRUSTED;
}

/*
** One past the newest message the slots hold (0: none), for when head is not
** trusted. O(capacity): only at a cursor's start and a publisher's claim.
*/
static uint64_t head_from_slots(const horus_topic *t) {
  uint64_t head = 0;
  for (uint64_t i = 0; i < t->geo.capacity; i++) {
    uint64_t seq = hseq_read_begin(&slot_at(t, i)->seq);
    if (seq < HSEQ_DONE(0) || (seq & 1u) || seq >= HSEQ_DONE(HSEQ_MAX - 1)) continue; /* unwritten, in progress, forged */
    uint64_t n = seq / 2u - 1u; /* seq == HSEQ_DONE(n) */
    if ((n & (t->geo.capacity - 1u)) == i && n + 1u > head) head = n + 1u;
  }
  return head;
}

uint64_t horus_topic_head(const horus_topic *t) {
  uint64_t h = trusted_head(t);
  return h != HEAD_UNTRUSTED ? h : head_from_slots(t);
}

int horus_topic_claim_publisher(horus_topic *t, char *err) {
  if (t->publisher) return HORUS_OK;
  struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = HORUS_PUBLISHER_BYTE, .l_len = 1};
  if (fcntl(t->seg.fd, F_OFD_SETLK, &fl) == 0) {
    t->publisher = 1;
    t->pub_next = horus_topic_head(t); /* a restarted publisher goes on from the last message */
    /* Relaxed: only error messages read it, and a stale pid there is harmless. */
    hatomic_store_relaxed(&t->hdr->publisher, (uint64_t)getpid());
    return HORUS_OK;
  }
  if (errno != EAGAIN && errno != EACCES) {
    hseg_err(err, "topic '%s': cannot take the publisher lock: %s", t->name, strerror(errno));
    return HORUS_ESYS;
  }
  hseg_err(err, "topic '%s' already has a publisher in another process (pid %llu): one process publishes "
          "per topic; publish from that process or use another topic name", t->name,
          (unsigned long long)hatomic_load_relaxed(&t->hdr->publisher));
  return HORUS_EBUSY;
}

void horus_topic_subscribe(horus_topic *t) {
  if (!t->subscriber) t->subscriber = horus_file_subscribe(t->seg.fd) == 0;
}

int horus_file_subscribe(int fd) {
  struct flock fl = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = HORUS_SUBSCRIBER_BYTE, .l_len = 1};
  return fcntl(fd, F_OFD_SETLK, &fl) == 0 ? 0 : -1;
}

int horus_file_claimed(int fd) {
  /* Would a write lock conflict? l_pid must be 0 for an OFD query (zeroed here). */
  struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = HORUS_PUBLISHER_BYTE, .l_len = 1};
  if (fcntl(fd, F_OFD_GETLK, &fl) != 0) return -1;
  return fl.l_type != F_UNLCK;
}

int horus_topic_publish(horus_topic *t, const horus_iov *parts, int nparts, uint64_t *seq_out, char *err) {
  if (!t->publisher) {
    hseg_err(err, "topic '%s': publish without the publisher claim", t->name);
    return HORUS_EINVAL;
  }
  topic_header *h = t->hdr;
  size_t total = 0;
  for (int i = 0; i < nparts; i++) total += parts[i].len;
  if (total > t->geo.slot_size) {
    hseg_err(err, "message of %zu bytes does not fit topic '%s' (max %u bytes): raise max_msg_size where the "
            "topic is first declared", total, t->name, t->geo.slot_size);
    return HORUS_ETOOBIG;
  }
  hseg_restore_header(&t->seg); /* a header rewritten by another process: new subscribers could not open it */
  /* Our own count, not head: another process may have rewritten head ([HEAD CHECK]). Wrapping
  ** to 0 takes 2^62 messages or a forged ring; subscribers then move back with head. */
  uint64_t n = t->pub_next < HSEQ_MAX - 1u ? t->pub_next : 0;
  slot_header *s = slot_at(t, n);
  hseq_write_begin(&s->seq, n); /* [SEQLOCK] writer begin; one publisher: the slot is ours */
  char *dst = (char *)(s + 1);
  for (int i = 0; i < nparts; i++) {
    if (parts[i].len) memcpy(dst, parts[i].base, parts[i].len);
    dst += parts[i].len;
  }
  s->len = (uint32_t)total;
  s->stamp_ns = horus_now_ns();
  hseq_write_end(&s->seq, n); /* [SEQLOCK] writer end */
  /* Pairs with the readers' acquire load in horus_topic_head/peek: a reader
  ** that sees head > n finds slot n complete (or already overwritten). */
  hatomic_store_release(&h->head, n + 1);
  t->pub_next = n + 1;
  /* [DOORBELL] publisher side: head before waiters, or a waiter could sleep through this message. */
  hatomic_fence_full();
  if (hatomic_load32_relaxed(&h->waiters)) {
    hatomic_add32_relaxed(&h->doorbell, 1);
    syscall(SYS_futex, &h->doorbell, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
  }
  if (seq_out) *seq_out = n;
  return HORUS_OK;
}

/* Is a message ready for c? An untrusted head is no message ([HEAD CHECK]). */
static int ready(const horus_topic *t, const horus_cursor *c) {
  uint64_t h = trusted_head(t);
  return h != HEAD_UNTRUSTED && h > c->next;
}

int horus_topic_wait(horus_topic *t, const horus_cursor *c, uint64_t spin_ns, uint64_t timeout_ns) {
  topic_header *h = t->hdr;
  uint64_t start = horus_now_ns();
  /* Spin first: a reply that comes within spin_ns costs no system call and no wake-up latency. */
  while (!ready(t, c)) {
    uint64_t now = horus_now_ns();
    if (now - start >= timeout_ns) return HORUS_EMPTY;
    if (now - start < spin_ns) continue;
    uint32_t bell = hatomic_load32_relaxed(&h->doorbell);
    /* [DOORBELL] waiter side. */
    hatomic_add32_relaxed(&h->waiters, 1);
    hatomic_fence_full();
    int rc = 0;
    if (!ready(t, c)) {
      uint64_t left = timeout_ns - (now - start);
      struct timespec ts = {.tv_sec = (time_t)(left / 1000000000u), .tv_nsec = (long)(left % 1000000000u)};
      rc = (int)syscall(SYS_futex, &h->doorbell, FUTEX_WAIT, bell, timeout_ns == UINT64_MAX ? NULL : &ts, NULL, 0);
    }
    int e = errno;
    hatomic_add32_relaxed(&h->waiters, -1);
    if (rc != 0 && e == EINTR) {
      errno = EINTR;
      return HORUS_ESYS;
    }
    /* EFAULT: the futex word's page was truncated away (the kernel does not raise SIGBUS for it);
    ** the next load of head faults, and the [SHRINK GUARD] grows the file back. */
  }
  return HORUS_OK;
}

void horus_cursor_init(const horus_topic *t, horus_cursor *c) { /* O(capacity) if head is untrusted */
  c->next = horus_topic_head(t);
  c->missed = 0;
}

int horus_topic_peek(const horus_topic *t, horus_cursor *c, horus_msg_view *v) {
  const uint32_t capacity = t->geo.capacity;
  /* Each pass but the first moves c->next one closer to a head at most capacity ahead: capacity + 2
  ** passes reach it. A publisher that laps us meanwhile only makes us report "nothing" early. */
  for (uint64_t pass = 0; pass < (uint64_t)capacity + 2u; pass++) {
    uint64_t head = trusted_head(t);
    if (head == HEAD_UNTRUSTED) return HORUS_EMPTY;
    if (c->next > head) c->next = head; /* moved back: truncated or rewritten ([HEAD CHECK]) */
    if (c->next == head) return HORUS_EMPTY;
    if (head - c->next > capacity) {
      /* Lagged a whole ring: the oldest slot that can still hold a message is head - capacity. */
      c->missed += head - capacity - c->next;
      c->next = head - capacity;
    }
    slot_header *s = slot_at(t, c->next);
    uint64_t seq = hseq_read_begin(&s->seq); /* [SEQLOCK] reader begin */
    if (seq == HSEQ_DONE(c->next)) {
      uint32_t len = READ_ONCE(s->len);
      /* [PAYLOAD RACE], exception one: a torn len fails the recheck, a hostile one must not
      ** send the copy out of the slot. */
      if (len > t->geo.slot_size) {
        c->missed += 1;
        c->next += 1;
        continue;
      }
      v->seq = c->next;
      v->stamp_ns = s->stamp_ns;
      v->len = len;
      v->data = s + 1;
      return HORUS_OK;
    }
    if (seq > HSEQ_DONE(c->next)) {
      /* A newer lap is in this slot: our message is gone. Count it and move on. */
      c->missed += 1;
      c->next += 1;
      continue;
    }
    /* Older or in-progress while head says published: only possible for a
    ** slot a killed publisher left half-written, or one truncated away; it is lost. */
    c->missed += 1;
    c->next += 1;
  }
  return HORUS_EMPTY;
}

int horus_topic_confirm(const horus_topic *t, horus_cursor *c, const horus_msg_view *v) {
  const slot_header *s = slot_at(t, v->seq);
  /* [SEQLOCK] reader end, for the copy the caller took between peek and now. */
  if (!hseq_read_valid(&s->seq, HSEQ_DONE(v->seq))) return HORUS_ERETRY;
  c->next = v->seq + 1;
  return HORUS_OK;
}
