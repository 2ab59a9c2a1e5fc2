/*
** stats.c: the stats registry, one file per scheduler.
**
** Layout (version 1, native byte order, machine-local):
**
**   offset  size  field
**   0       4     magic        "HRSS" (0x53535248 as little-endian u32)
**   4       4     version      HORUS_STATS_VERSION; other: HORUS_ECORRUPT
**   8       4     header_size  128
**   12      4     nodes        records that follow
**   16      4     record_size  256
**   20      4     pid          of the scheduler's process
**   24      40    (reserved, zero)
**   64      48    scheduler    name, NUL-padded
**   112     16    (reserved, zero)
**   128     ...   nodes records of 256 bytes:
**                   0   8    seq     [SEQLOCK] word (hatomic.h); only the scheduler thread writes the record
**                   8   ...  horus_node_stats, as declared in horus.h
**
** WARNING: changing this layout or horus_node_stats changes the format: bump
** HORUS_STATS_VERSION.
**
** One writer per file, so the [SEQLOCK] is used in its simplest form: seq
** odd while the record is written, even when done, with no lap to tell apart
** (a record's n is just how many updates it has had). horus_stats_read's copy
** races the writer: [PAYLOAD RACE].
**
** The totals a record is made from (horus_tick_stats) live in the
** scheduler's process; horus_stats_publish turns them into a record, so one
** call per tick both counts the tick and shows it to `horus monitor`.
*/
#define _GNU_SOURCE
#include "hatomic.h"
#include "horus.h"
#include "segment.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STATS_MAGIC 0x53535248u
#define HORUS_STATS_VERSION 1u
#define STATS_RECORD 256u
/* A reader spins this many times on a record being written, then yields to its writer... */
#define STATS_SPINS 1000u
/* ...and takes the writer for dead after this long (a preempted one is back within a few ms). */
#define STATS_STUCK_NS 100000000u

typedef struct stats_header {
  uint32_t magic;
  uint32_t version;
  uint32_t header_size;
  uint32_t nodes;
  uint32_t record_size;
  uint32_t pid;
  uint8_t reserved0[40];
  char scheduler[48];
  uint8_t reserved1[16];
} stats_header;

typedef struct stats_record {
  hatomic_u64 seq;
  horus_node_stats v;
} stats_record;

_Static_assert(sizeof(stats_header) == 128, "stats v1: header is 128 bytes");
_Static_assert(offsetof(stats_header, version) == 4, "stats v1: version at 4");
_Static_assert(offsetof(stats_header, header_size) == 8, "stats v1: header_size at 8");
_Static_assert(offsetof(stats_header, nodes) == 12, "stats v1: nodes at 12");
_Static_assert(offsetof(stats_header, record_size) == 16, "stats v1: record_size at 16");
_Static_assert(offsetof(stats_header, pid) == 20, "stats v1: pid at 20");
_Static_assert(offsetof(stats_header, scheduler) == 64, "stats v1: scheduler name at 64");
_Static_assert(offsetof(stats_record, v) == 8, "stats v1: horus_node_stats at 8 in a record");
_Static_assert(sizeof(stats_record) <= STATS_RECORD, "stats v1: a record fits 256 bytes");

/* The header's fields, copied at open: shared memory another process could rewrite is never
** trusted for a bound or a string after it was checked. */
struct horus_stats {
  hseg seg;
  stats_header *hdr;
  uint32_t nodes, pid;
  char scheduler[sizeof(((stats_header *)0)->scheduler)]; /* always NUL-terminated */
};

typedef struct stats_init {
  const char *scheduler;
  uint32_t pid, nodes;
} stats_init;

static void init_stats(void *map, size_t len, const void *arg) {
  (void)len;
  const stats_init *in = arg;
  stats_header *h = map;
  h->version = HORUS_STATS_VERSION;
  h->header_size = sizeof *h;
  h->nodes = in->nodes;
  h->record_size = STATS_RECORD;
  h->pid = in->pid;
  strncpy(h->scheduler, in->scheduler, sizeof h->scheduler - 1);
  h->magic = STATS_MAGIC;
}

static stats_record *record_at(const horus_stats *s, uint32_t i) {
  return (stats_record *)((char *)s->hdr + sizeof(stats_header) + (size_t)i * STATS_RECORD);
}

static int open_registry(const char *path, const stats_init *in, int create, horus_stats **out, char *err) {
  horus_stats *s = calloc(1, sizeof *s);
  if (!s) {
    hseg_err(err, "out of memory"); /* errno is calloc's ENOMEM */
    return HORUS_ESYS;
  }
  s->seg = (hseg)HSEG_INIT;
  size_t len = sizeof(stats_header) + (size_t)(in ? in->nodes : 0) * STATS_RECORD;
  int rc = hseg_open(path, len, init_stats, in, create, &s->seg, err);
  stats_header *h = s->seg.map;
  uint32_t nodes = rc == HORUS_OK && s->seg.len >= sizeof *h ? READ_ONCE(h->nodes) : 0;
  if (rc == HORUS_OK && (s->seg.len < sizeof *h || h->magic != STATS_MAGIC || h->version != HORUS_STATS_VERSION ||
                         h->record_size != STATS_RECORD || nodes > HORUS_STATS_MAX_NODES ||
                         sizeof *h + (size_t)nodes * STATS_RECORD != s->seg.len)) {
    hseg_err(err, "%s is not a stats registry of this HORUS version: run horus clean --shm", path);
    rc = HORUS_ECORRUPT;
  }
  if (rc != HORUS_OK) {
    hseg_close(&s->seg);
    free(s);
    return rc;
  }
  s->hdr = h;
  s->nodes = nodes;
  /* [SHRINK GUARD]: the whole header is constant and comes back after a repair. */
  horus_shm_guard_header(s->seg.guard, sizeof *h);
  s->pid = READ_ONCE(h->pid);
  memcpy(s->scheduler, h->scheduler, sizeof s->scheduler - 1);
  *out = s;
  return HORUS_OK;
}

int horus_stats_create(const char *path, const char *scheduler, uint32_t pid, uint32_t nodes, horus_stats **out,
                       char *err) {
  if (nodes > HORUS_STATS_MAX_NODES) {
    hseg_err(err, "a scheduler publishes stats for at most %u nodes, not %u", HORUS_STATS_MAX_NODES, nodes);
    return HORUS_EINVAL;
  }
  /* The path names our pid: a file there is a dead namesake's (pid reuse), never a live one's. */
  if (unlink(path) != 0 && errno != ENOENT) {
    hseg_err(err, "cannot replace %s: %s", path, strerror(errno));
    return HORUS_ESYS;
  }
  stats_init in = {scheduler, pid, nodes};
  return open_registry(path, &in, 1, out, err);
}

int horus_stats_attach(const char *path, horus_stats **out, char *err) { return open_registry(path, NULL, 0, out, err); }

void horus_stats_close(horus_stats *s) {
  if (!s) return;
  hseg_close(&s->seg);
  free(s);
}

uint32_t horus_stats_nodes(const horus_stats *s) { return s->nodes; }
uint32_t horus_stats_pid(const horus_stats *s) { return s->pid; }
const char *horus_stats_scheduler(const horus_stats *s) { return s->scheduler; }

void horus_stats_update(horus_stats *s, uint32_t i, const horus_node_stats *v) {
  if (i >= s->nodes) return;
  hseg_restore_header(&s->seg); /* a header rewritten by another process: `horus monitor` could not attach */
  stats_record *r = record_at(s, i);
  /* Single writer: a relaxed load of our own last store (HSEQ_DONE of the last update) is exact. */
  uint64_t n = hatomic_load_relaxed(&r->seq) / 2u;
  hseq_write_begin(&r->seq, n); /* [SEQLOCK] writer begin */
  memcpy(&r->v, v, sizeof *v);
  hseq_write_end(&r->seq, n); /* [SEQLOCK] writer end */
}

void horus_stats_read(const horus_stats *s, uint32_t i, horus_node_stats *out) {
  memset(out, 0, sizeof *out);
  if (i >= s->nodes) return;
  const stats_record *r = record_at(s, i);
  uint64_t give_up = 0;
  for (unsigned tries = 1;; tries++) {
    uint64_t seq = hseq_read_begin(&r->seq); /* [SEQLOCK] reader begin */
    if (!(seq & 1u)) {
      memcpy(out, &r->v, sizeof *out); /* races the writer: [PAYLOAD RACE] */
      if (hseq_read_valid(&r->seq, seq)) break;
    }
    /* Being written: that takes well under a microsecond, unless the writer was preempted
    ** mid-update. Then spinning on would only keep it off the CPU: yield to it, and give up
    ** only when it has been stuck so long that it must have died there. */
    if (tries < STATS_SPINS) continue;
    uint64_t now = horus_now_ns();
    if (!give_up) give_up = now + STATS_STUCK_NS;
    /* A writer killed mid-update leaves seq odd for ever: report the record as it is
    ** ([PAYLOAD RACE], exception two). */
    if (now >= give_up) {
      memcpy(out, &r->v, sizeof *out);
      break;
    }
    sched_yield();
  }
  out->name[HORUS_STATS_NAME_MAX] = '\0';
}

/* ---- Tick statistics: process-local totals, published into the registry -------- */

void horus_tick_init(horus_tick_stats *t) {
  memset(t, 0, sizeof *t);
  t->state = HORUS_STATE_CREATED;
  t->last_miss_ns = -HORUS_RECENT_MISS_NS; /* "no miss yet" is never recent (CLOCK_MONOTONIC >= 0) */
}

void horus_tick_record(horus_tick_stats *t, int64_t start_ns, int64_t end_ns, unsigned flags) {
  uint64_t n = ++t->total_ticks;
  if (flags & HORUS_TICK_OK) {
    t->successful_ticks++;
    t->consecutive_failures = 0;
  } else {
    t->failed_ticks++;
  }
  int64_t d = end_ns - start_ns;
  t->sum_ns += d;
  t->last_ns = d;
  if (n == 1 || d < t->min_ns) t->min_ns = d;
  if (d > t->max_ns) t->max_ns = d;
  if (flags & HORUS_TICK_MISSED) {
    t->deadline_misses++;
    t->last_miss_ns = end_ns;
  }
  if (flags & HORUS_TICK_OVER_BUDGET) t->budget_overruns++;
  if (flags & HORUS_TICK_WATCHDOG) t->watchdog_expirations++;
  if (t->last_start_ns) {
    int64_t gap = start_ns - t->last_start_ns;
    double hz = 1e9 / (double)(gap > 1 ? gap : 1);
    /* The first interval seeds the average; later ones move it by HORUS_RATE_ALPHA. */
    t->rate_ewma = n == 2 ? hz : t->rate_ewma + HORUS_RATE_ALPHA * (hz - t->rate_ewma);
  }
  t->last_start_ns = start_ns;
}

void horus_tick_error(horus_tick_stats *t) {
  t->errors++;
  t->consecutive_failures++;
}

uint32_t horus_tick_health(const horus_tick_stats *t, int64_t now_ns) {
  switch (t->state) {
  case HORUS_STATE_FAILED: return HORUS_HEALTH_FAILED;
  case HORUS_STATE_STOPPED: return HORUS_HEALTH_STOPPED;
  case HORUS_STATE_CREATED: return HORUS_HEALTH_STARTING;
  case HORUS_STATE_SUSPENDED:
  case HORUS_STATE_RESTARTING: return HORUS_HEALTH_UNHEALTHY;
  default: break;
  }
  if (t->consecutive_failures) return HORUS_HEALTH_UNHEALTHY;
  return now_ns - t->last_miss_ns < HORUS_RECENT_MISS_NS ? HORUS_HEALTH_WARNING : HORUS_HEALTH_HEALTHY;
}

void horus_stats_publish(horus_stats *s, uint32_t i, const char *name, double rate_hz, const horus_tick_stats *t,
                         int64_t now_ns) {
  horus_node_stats v;
  memset(&v, 0, sizeof v); /* the name's NUL padding too: readers copy the whole record */
  strncpy(v.name, name, HORUS_STATS_NAME_MAX);
  v.state = t->state;
  v.health = horus_tick_health(t, now_ns);
  v.total_ticks = t->total_ticks;
  v.errors = t->errors;
  v.deadline_misses = t->deadline_misses;
  v.budget_overruns = t->budget_overruns;
  v.last_tick_ns = (uint64_t)t->last_ns;
  v.avg_tick_ns = t->total_ticks ? (uint64_t)t->sum_ns / t->total_ticks : 0;
  v.max_tick_ns = (uint64_t)t->max_ns;
  v.updated_ns = (uint64_t)now_ns;
  v.rate_hz = rate_hz;
  v.actual_rate_hz = t->rate_ewma;
  horus_stats_update(s, i, &v);
}
