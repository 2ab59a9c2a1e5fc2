/*
** stress.c: many processes on one small ring, every payload checked.
**
** usage: stress DIR MESSAGES READERS
**
** One publisher writes MESSAGES messages of varying length whose every byte
** derives from the sequence number; READERS processes read concurrently,
** verify each byte, and check that sequence numbers only go up and that
** received + missed accounts for every message. The ring has 8 slots, so
** readers are lapped constantly and the [SEQLOCK] retry path is exercised.
** Readers wait on the futex doorbell or spin when the ring is empty.
** A second process trying to publish must get HORUS_EBUSY. Exit 0 on success.
*/
#define _GNU_SOURCE
#include "horus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SLOT 4096u

static uint32_t msg_len(uint64_t i) { return 16u + (uint32_t)((i * 7919u) % (SLOT - 16u)); }

static void fill(uint8_t *buf, uint64_t i, uint32_t len) {
  memcpy(buf, &i, 8);
  uint64_t l = len;
  memcpy(buf + 8, &l, 8);
  for (uint32_t k = 16; k < len; k++) buf[k] = (uint8_t)(i * 31u + k);
}

static int check(const uint8_t *buf, uint32_t len, uint64_t seq) {
  uint64_t i, l;
  memcpy(&i, buf, 8);
  memcpy(&l, buf + 8, 8);
  if (i != seq || l != len || len != msg_len(i)) return 0;
  for (uint32_t k = 16; k < len; k++)
    if (buf[k] != (uint8_t)(i * 31u + k)) return 0;
  return 1;
}

static horus_topic *open_topic(const char *dir) {
  horus_topic_cfg cfg = {.slot_size = SLOT, .capacity = 8, .format = 7, .create = 1};
  char err[HORUS_ERRLEN];
  horus_topic *t = NULL;
  if (horus_topic_open(dir, "stress", &cfg, &t, err) != HORUS_OK) {
    fprintf(stderr, "open: %s\n", err);
    exit(2);
  }
  return t;
}

static int reader(const char *dir, uint64_t total) {
  horus_topic *t = open_topic(dir);
  horus_cursor c = {.next = 0, .missed = 0};
  uint8_t *buf = malloc(SLOT);
  uint64_t got = 0, last = 0, retries = 0;
  int first = 1;
  while (c.next < total) {
    horus_msg_view v;
    if (horus_topic_peek(t, &c, &v) == HORUS_EMPTY) {
      /* Odd readers sleep on the futex, even ones spin: both wait paths under the sanitizers. */
      horus_topic_wait(t, &c, getpid() % 2 ? 0 : 1000000, 100000000);
      continue;
    }
    memcpy(buf, v.data, v.len);
    if (horus_topic_confirm(t, &c, &v) != HORUS_OK) {
      retries++;
      continue;
    }
    if (!check(buf, v.len, v.seq) || (!first && v.seq <= last)) {
      fprintf(stderr, "reader %d: bad message seq %llu\n", (int)getpid(), (unsigned long long)v.seq);
      return 1;
    }
    first = 0;
    last = v.seq;
    got++;
  }
  if (got + c.missed != total) {
    fprintf(stderr, "reader: got %llu + missed %llu != %llu\n", (unsigned long long)got,
            (unsigned long long)c.missed, (unsigned long long)total);
    return 1;
  }
  printf("reader %d: %llu received, %llu missed, %llu torn copies discarded\n", (int)getpid(),
         (unsigned long long)got, (unsigned long long)c.missed, (unsigned long long)retries);
  fflush(stdout); /* the child leaves with _exit, which does not flush */
  free(buf);
  horus_topic_close(t);
  return 0;
}

static int second_publisher(const char *dir) {
  horus_topic *t = open_topic(dir);
  char err[HORUS_ERRLEN];
  int rc = horus_topic_claim_publisher(t, err);
  horus_topic_close(t);
  if (rc != HORUS_EBUSY) {
    fprintf(stderr, "second publisher was not refused (rc %d)\n", rc);
    return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s DIR MESSAGES READERS\n", argv[0]);
    return 2;
  }
  const char *dir = argv[1];
  uint64_t total = strtoull(argv[2], NULL, 10);
  int readers = atoi(argv[3]);
  horus_topic *t = open_topic(dir);
  char err[HORUS_ERRLEN];
  if (horus_topic_claim_publisher(t, err) != HORUS_OK) {
    fprintf(stderr, "claim: %s\n", err);
    return 2;
  }
  for (int r = 0; r < readers; r++)
    if (fork() == 0) _exit(reader(dir, total));
  if (fork() == 0) _exit(second_publisher(dir));
  uint8_t *buf = malloc(SLOT);
  for (uint64_t i = 0; i < total; i++) {
    uint32_t len = msg_len(i);
    fill(buf, i, len);
    horus_iov parts[2] = {{buf, 7}, {buf + 7, len - 7}}; /* gathered from two parts */
    if (horus_topic_publish(t, parts, 2, NULL, err) != HORUS_OK) {
      fprintf(stderr, "publish: %s\n", err);
      return 1;
    }
  }
  horus_iov big = {buf, SLOT + 1};
  if (horus_topic_publish(t, &big, 1, NULL, err) != HORUS_ETOOBIG) {
    fprintf(stderr, "an oversize message was not refused\n");
    return 1;
  }
  int failed = 0, status;
  while (wait(&status) > 0) failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
  free(buf);
  horus_topic_close(t);
  return failed;
}
