/*
** ticklog.c: tick statistics, their registry record, and the stderr log line.
**
** usage: ticklog DIR TICKS READERS
**
** Folds known ticks into a horus_tick_stats and checks every total, the rate
** average and health. Then publishes TICKS updates into a registry while
** READERS processes read it concurrently: every record a reader gets must be
** one whole update (its fields agree with each other), and the last must be
** the final one. Then writes log lines of every kind into a pipe and checks
** the bytes, and round-trips records of every length through the log ring.
** Last, the result cases and NULL rules horus.h states for the log ring, the
** registry and horus_keep_heap. Exit 0 on success.
*/
#define _GNU_SOURCE
#include "check.h"
#include "horus.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MS 1000000LL
#define T0 (1000 * MS)

static void check_totals(void) {
  horus_tick_stats t;
  horus_tick_init(&t);
  CHECK(t.state == HORUS_STATE_CREATED && horus_tick_health(&t, T0) == HORUS_HEALTH_STARTING);
  t.state = HORUS_STATE_RUNNING;
  CHECK(horus_tick_health(&t, 0) == HORUS_HEALTH_HEALTHY); /* no miss yet is never a recent one */
  int64_t durations[] = {3000, 1000, 5000, 2000};
  for (int i = 0; i < 4; i++) horus_tick_record(&t, T0 + i * MS, T0 + i * MS + durations[i], HORUS_TICK_OK);
  CHECK(t.total_ticks == 4 && t.successful_ticks == 4 && t.failed_ticks == 0);
  CHECK(t.min_ns == 1000 && t.max_ns == 5000 && t.last_ns == 2000 && t.sum_ns == 11000);
  CHECK(t.rate_ewma == 1000.0);
  horus_tick_record(&t, T0 + 5 * MS, T0 + 6 * MS, HORUS_TICK_MISSED | HORUS_TICK_OVER_BUDGET | HORUS_TICK_WATCHDOG);
  CHECK(fabs(t.rate_ewma - (1000.0 + HORUS_RATE_ALPHA * (500.0 - 1000.0))) < 1e-9);
  CHECK(t.failed_ticks == 1 && t.deadline_misses == 1 && t.budget_overruns == 1 && t.watchdog_expirations == 1);
  CHECK(horus_tick_health(&t, T0 + 7 * MS) == HORUS_HEALTH_WARNING);
  CHECK(horus_tick_health(&t, T0 + 6 * MS + HORUS_RECENT_MISS_NS) == HORUS_HEALTH_HEALTHY);
  horus_tick_error(&t);
  CHECK(t.errors == 1 && t.consecutive_failures == 1);
  CHECK(horus_tick_health(&t, T0 + 6 * MS + HORUS_RECENT_MISS_NS) == HORUS_HEALTH_UNHEALTHY);
  horus_tick_record(&t, T0 + 7 * MS, T0 + 7 * MS + 10, HORUS_TICK_OK);
  CHECK(t.consecutive_failures == 0 && t.min_ns == 10);
}

/* Update k of the registry test: every field derives from k, so a mixed record shows. */
static void update(horus_tick_stats *t, uint64_t k) {
  t->total_ticks = k;
  t->errors = 2 * k;
  t->deadline_misses = 3 * k;
  t->budget_overruns = 4 * k;
  t->sum_ns = (int64_t)(5 * k * k);
  t->max_ns = t->last_ns = (int64_t)(6 * k);
  t->rate_ewma = (double)k;
}

static int reader(const char *path, uint64_t ticks) {
  horus_stats *s;
  char err[HORUS_ERRLEN];
  if (horus_stats_attach(path, &s, err) != HORUS_OK) {
    fprintf(stderr, "attach: %s\n", err);
    return 1;
  }
  horus_node_stats v;
  uint64_t reads = 0;
  do {
    horus_stats_read(s, 0, &v);
    uint64_t k = v.total_ticks;
    if (k && (strcmp(v.name, "arm") || v.errors != 2 * k || v.deadline_misses != 3 * k || v.budget_overruns != 4 * k ||
              v.avg_tick_ns != 5 * k || v.max_tick_ns != 6 * k || v.last_tick_ns != 6 * k ||
              v.actual_rate_hz != (double)k || v.rate_hz != 250.0 || v.state != HORUS_STATE_RUNNING)) {
      fprintf(stderr, "reader: record of update %llu is mixed\n", (unsigned long long)k);
      return 1;
    }
    reads++;
  } while (v.total_ticks < ticks);
  printf("reader %d: %llu consistent reads\n", (int)getpid(), (unsigned long long)reads);
  fflush(stdout); /* the child leaves with _exit, which does not flush */
  horus_stats_close(s);
  return 0;
}

static void check_registry(const char *dir, uint64_t ticks, int readers) {
  char path[512], err[HORUS_ERRLEN];
  snprintf(path, sizeof path, "%s/stats", dir);
  horus_stats *s;
  if (horus_stats_create(path, "ticklog", (uint32_t)getpid(), 1, &s, err) != HORUS_OK) {
    fprintf(stderr, "create: %s\n", err);
    exit(2);
  }
  for (int r = 0; r < readers; r++)
    if (fork() == 0) _exit(reader(path, ticks));
  horus_tick_stats t;
  horus_tick_init(&t);
  t.state = HORUS_STATE_RUNNING;
  for (uint64_t k = 1; k <= ticks; k++) {
    update(&t, k);
    horus_stats_publish(s, 0, "arm", 250.0, &t, T0);
  }
  int status;
  while (wait(&status) > 0) CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  horus_node_stats v;
  horus_stats_read(s, 0, &v);
  CHECK(v.total_ticks == ticks && v.updated_ns == (uint64_t)T0 && v.health == HORUS_HEALTH_HEALTHY);
  horus_stats_publish(s, 1, "out of range", 1.0, &t, T0); /* ignored: one record only */
  horus_stats_publish(s, 0, "a name longer than the record's 47 bytes holds, cut there", 250.0, &t, T0);
  horus_stats_read(s, 0, &v);
  CHECK(strcmp(v.name, "a name longer than the record's 47 bytes holds,") == 0);
  horus_stats_close(s);
}

static void check_line(long level, const char *node, const char *msg, const char *expect) {
  int fds[2];
  if (pipe(fds) != 0) exit(2);
  CHECK(horus_log_write_line(fds[1], level, node, strlen(node), msg, strlen(msg)) == HORUS_OK);
  close(fds[1]);
  size_t want = strlen(expect), got = 0;
  char *buf = malloc(want + 2);
  ssize_t n;
  while (got < want + 1 && (n = read(fds[0], buf + got, want + 1 - got)) > 0) got += (size_t)n;
  close(fds[0]);
  CHECK(got == want && memcmp(buf, expect, want) == 0);
  free(buf);
}

static void check_lines(void) {
  check_line(20, "arm", "one", "[INFO] arm: one\n");
  check_line(40, "arm", "", "[ERROR] arm: \n");
  check_line(-7, "a", "b", "[-7] a: b\n");
  /* Longer than the stack line: written from its parts. Fits a pipe's buffer (64 KiB). */
  static char msg[40000], expect[40100];
  memset(msg, 'x', sizeof msg - 1);
  snprintf(expect, sizeof expect, "[DEBUG] arm: %s\n", msg);
  check_line(10, "arm", msg, expect);
  CHECK(horus_log_write_line(-1, 20, "a", 1, "b", 1) == HORUS_ESYS);
  /* NULL with length 0 is an empty node or message (UBSan checks no NULL reaches memcpy). */
  int fds[2];
  if (pipe(fds) != 0) exit(2);
  CHECK(horus_log_write_line(fds[1], 30, NULL, 0, NULL, 0) == HORUS_OK);
  close(fds[1]);
  char buf[32];
  ssize_t n = read(fds[0], buf, sizeof buf);
  close(fds[0]);
  CHECK(n == 13 && memcmp(buf, "[WARNING] : \n", 13) == 0);
}

static void check_ring(const char *dir) {
  char path[512], err[HORUS_ERRLEN];
  snprintf(path, sizeof path, "%s/log", dir);
  horus_logring *r;
  if (horus_logring_open(path, 8, 1, &r, err) != HORUS_OK) {
    fprintf(stderr, "ring: %s\n", err);
    exit(2);
  }
  static char msg[HORUS_LOG_MSG_MAX + 100];
  for (size_t i = 0; i < sizeof msg; i++) msg[i] = (char)('a' + i % 26);
  /* Every message length up to past the cut, so the checksum's word loop meets every tail length. */
  uint64_t next = 0, missed = 0;
  for (size_t len = 0; len < sizeof msg; len++) {
    horus_logring_append(r, 20, "arm", len, msg, len);
    horus_log_record rec;
    CHECK(horus_logring_read(r, &next, &missed, &rec) == HORUS_OK);
    size_t kept = len > HORUS_LOG_MSG_MAX ? HORUS_LOG_MSG_MAX : len;
    CHECK(rec.tick == len && rec.msg_len == kept && rec.truncated == (len > HORUS_LOG_MSG_MAX));
    CHECK(memcmp(rec.msg, msg, kept) == 0 && rec.msg[kept] == '\0' && strcmp(rec.node, "arm") == 0);
  }
  CHECK(missed == 0 && next == sizeof msg);
  horus_logring_append(r, 20, "arm", 0, NULL, 0); /* msg may be NULL when len is 0 */
  horus_log_record rec;
  CHECK(horus_logring_read(r, &next, &missed, &rec) == HORUS_OK && rec.msg_len == 0 && rec.msg[0] == '\0');
  CHECK(horus_logring_read(r, &next, &missed, &rec) == HORUS_EMPTY && next == horus_logring_head(r));
  horus_logring_close(r);
}

/* The result cases and NULL rules of horus.h for the log ring, the registry and horus_keep_heap. */
static void check_contract(const char *dir) {
  char path[512], err[HORUS_ERRLEN];
  horus_logring *r = NULL; /* stays NULL through every failed open: *out is untouched on error */
  snprintf(path, sizeof path, "%s/ring2", dir);
  CHECK(horus_logring_open(path, 12, 1, &r, err) == HORUS_EINVAL && !r);
  errno = 0;
  CHECK(horus_logring_open(path, 0, 0, &r, NULL) == HORUS_ESYS && errno == ENOENT && !r);
  CHECK(horus_logring_open(path, 0, 1, &r, err) == HORUS_OK && r);
  CHECK(horus_logring_capacity(r) == HORUS_LOG_DEFAULT_CAPACITY && horus_logring_head(r) == 0);
  horus_logring *again = NULL; /* an existing ring keeps its own capacity */
  CHECK(horus_logring_open(path, 16, 1, &again, err) == HORUS_OK);
  CHECK(again && horus_logring_capacity(again) == HORUS_LOG_DEFAULT_CAPACITY);
  horus_logring_close(again);
  horus_logring_close(r);
  horus_logring_close(NULL);
  snprintf(path, sizeof path, "%s/empty", dir);
  int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  CHECK(fd >= 0);
  close(fd);
  r = NULL;
  CHECK(horus_logring_open(path, 0, 1, &r, err) == HORUS_ECORRUPT && !r);

  horus_stats *s = NULL;
  CHECK(horus_stats_attach(path, &s, err) == HORUS_ECORRUPT && !s); /* the empty file */
  snprintf(path, sizeof path, "%s/stats2", dir);
  errno = 0;
  CHECK(horus_stats_attach(path, &s, NULL) == HORUS_ESYS && errno == ENOENT && !s);
  CHECK(horus_stats_create(path, "s", 1, HORUS_STATS_MAX_NODES + 1, &s, err) == HORUS_EINVAL && !s);
  CHECK(horus_stats_create(path, "s", 4242, 2, &s, err) == HORUS_OK && s);
  horus_stats *reader = NULL;
  CHECK(horus_stats_attach(path, &reader, err) == HORUS_OK && reader);
  CHECK(horus_stats_nodes(reader) == 2 && horus_stats_pid(reader) == 4242);
  CHECK(strcmp(horus_stats_scheduler(reader), "s") == 0);
  horus_node_stats v;
  memset(&v, 0xff, sizeof v);
  horus_stats_update(s, 2, &v);    /* out of range: ignored */
  horus_stats_read(reader, 2, &v); /* out of range: zeroes */
  CHECK(v.total_ticks == 0 && v.name[0] == '\0');
  horus_stats_read(reader, 1, &v); /* never written: zeroes too */
  CHECK(v.total_ticks == 0 && v.name[0] == '\0');
  horus_stats_close(reader);
  horus_stats_close(s);
  horus_stats_close(NULL);

  /* glibc takes both settings; under ASan the allocator is the sanitizer's, whose mallopt
  ** refuses them: the HORUS_EINVAL case. Either way, calling again changes nothing. */
  int heap = horus_keep_heap();
  CHECK(heap == HORUS_OK || heap == HORUS_EINVAL);
  CHECK(horus_keep_heap() == heap);
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s DIR TICKS READERS\n", argv[0]);
    return 2;
  }
  check_totals();
  check_registry(argv[1], strtoull(argv[2], NULL, 10), atoi(argv[3]));
  check_lines();
  check_ring(argv[1]);
  check_contract(argv[1]);
  return failures != 0;
}
