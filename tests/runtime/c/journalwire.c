/*
** journalwire.c: journald records, encoded and sent, under the sanitizers.
**
** usage: journalwire DIR
**
** Encodes records of every shape (newlines in any field, NULs, empty
** values, no CODE_* fields, lengths either side of the sender's stack
** buffer) into buffers of every size from 0 to one past the record, each
** allocated to exactly that size so that AddressSanitizer sees any byte
** written past it, and checks the bytes against a field-by-field reference.
** Then sends records through a datagram socket bound in DIR and checks what
** arrives, that a full queue answers EAGAIN at once, and that a replaced
** socket at the same path is reconnected. Exit 0 on success.
*/
#define _GNU_SOURCE
#include "check.h"
#include "horus.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* The reference encoder: obvious rather than fast. */
static size_t ref_field(char *out, const char *key, const char *v, size_t n) {
  size_t at = 0, k = strlen(key);
  memcpy(out, key, k);
  at += k;
  if (memchr(v, '\n', n)) {
    out[at++] = '\n';
    for (int i = 0; i < 8; i++) out[at++] = (char)((n >> (8 * i)) & 0xff);
  } else {
    out[at++] = '=';
  }
  memcpy(out + at, v, n);
  at += n;
  out[at++] = '\n';
  return at;
}

static size_t ref_number(char *out, const char *key, long long v) {
  char digits[32];
  int n = snprintf(digits, sizeof digits, "%lld", v);
  return ref_field(out, key, digits, (size_t)n);
}

static size_t reference(char *out, const horus_journal_record *r) {
  char priority = r->level >= 40 ? '3' : r->level >= 30 ? '4' : r->level >= 20 ? '6' : '7';
  char tick[32];
  int tick_len = snprintf(tick, sizeof tick, "%llu", (unsigned long long)r->tick);
  size_t at = ref_field(out, "MESSAGE", r->message, r->message_len);
  at += ref_field(out + at, "PRIORITY", &priority, 1);
  at += ref_field(out + at, "SYSLOG_IDENTIFIER", r->identifier, r->identifier_len);
  at += ref_field(out + at, "HORUS_NODE", r->node, r->node_len);
  at += ref_field(out + at, "HORUS_TICK", tick, (size_t)tick_len);
  at += ref_number(out + at, "HORUS_PID", (long long)r->pid);
  if (r->code_file) {
    at += ref_field(out + at, "CODE_FILE", r->code_file, r->code_file_len);
    at += ref_number(out + at, "CODE_LINE", (long long)r->code_line);
    at += ref_field(out + at, "CODE_FUNC", r->code_func, r->code_func_len);
  }
  return at;
}

static horus_journal_record make(long level, const char *msg, size_t msg_len, const char *node, int with_code) {
  horus_journal_record r = {.level = level, .tick = 18446744073709551615ull, .pid = 4194304};
  r.message = msg, r.message_len = msg_len;
  r.identifier = "robot", r.identifier_len = 5;
  r.node = node, r.node_len = strlen(node);
  if (with_code) {
    r.code_file = "/opt/app/camera.py", r.code_file_len = 18;
    r.code_func = "tick", r.code_func_len = 4;
    r.code_line = -7;
  }
  return r;
}

/* Every buffer size from 0 to len + 1, each exactly that large. */
static void check_encoding(const horus_journal_record *r) {
  size_t cap_ref = r->message_len + r->node_len + 512;
  char *expected = malloc(cap_ref);
  size_t len = reference(expected, r);
  CHECK(horus_journal_encode(NULL, 0, r) == len);
  for (size_t cap = 0; cap <= len + 1; cap++) {
    if (len > 4096 && cap % 97 != 0 && cap + 2 < len) continue; /* long records: every 97th size, and the edges */
    char *buf = cap ? malloc(cap) : NULL;
    CHECK(horus_journal_encode(buf, cap, r) == len);
    if (cap >= len) CHECK(memcmp(buf, expected, len) == 0);
    free(buf);
  }
  free(expected);
}

static void check_encodings(void) {
  static char big[6000];
  memset(big, 'x', sizeof big);
  big[3000] = '\n';
  const struct {
    const char *msg;
    size_t len;
    const char *node;
  } cases[] = {{"plain", 5, "motor"}, {"", 0, "n"},        {"\n", 1, "a\nb"},
               {"a\0b\nc", 5, ""},    {big, 2047, "camera"}, {big, sizeof big, "camera"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    for (int code = 0; code < 2; code++) {
      horus_journal_record r = make(10 + 10 * (long)i, cases[i].msg, cases[i].len, cases[i].node, code);
      check_encoding(&r);
    }
  }
  CHECK(horus_journal_priority(40) == '3' && horus_journal_priority(39) == '4');
  CHECK(horus_journal_priority(20) == '6' && horus_journal_priority(-1) == '7');
}

static int bound(const char *path) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
  int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
  unlink(path);
  if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    perror("bind");
    exit(2);
  }
  return fd;
}

/* Send r on client to path; the datagram that arrives on server must be its encoding. */
static void check_arrives(int client, int server, const char *path, const horus_journal_record *r) {
  size_t len = horus_journal_encode(NULL, 0, r);
  char *expected = malloc(len), *got = malloc(len + 1);
  (void)horus_journal_encode(expected, len, r);
  CHECK(horus_journal_send(client, path, strlen(path), r) == HORUS_OK);
  CHECK(recv(server, got, len + 1, MSG_DONTWAIT) == (ssize_t)len && memcmp(got, expected, len) == 0);
  free(expected);
  free(got);
}

static void check_sending(const char *dir) {
  char path[108];
  snprintf(path, sizeof path, "%s/journal.socket", dir);
  int server = bound(path), client = socket(AF_UNIX, SOCK_DGRAM, 0);
  static char big[6000];
  memset(big, 'y', sizeof big);
  horus_journal_record small = make(20, "hello", 5, "motor", 1), large = make(30, big, sizeof big, "camera", 1);
  check_arrives(client, server, path, &small);
  check_arrives(client, server, path, &large); /* the heap buffer */
  int full = 0;
  for (int i = 0; i < 100000 && !full; i++) { /* nobody reads: the queue fills, and then EAGAIN, at once */
    if (horus_journal_send(client, path, strlen(path), &small) != HORUS_OK) full = errno == EAGAIN ? 1 : -1;
  }
  CHECK(full == 1);
  close(server); /* journald's socket replaced: the client reconnects */
  server = bound(path);
  check_arrives(client, server, path, &small);
  close(server);
  unlink(path);
  CHECK(horus_journal_send(client, path, strlen(path), &small) == HORUS_ESYS && errno == ENOENT);
  char longpath[200];
  memset(longpath, 'p', sizeof longpath);
  CHECK(horus_journal_send(client, longpath, sizeof longpath, &small) == HORUS_ESYS && errno == ENAMETOOLONG);
  close(client);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  check_encodings();
  check_sending(argv[1]);
  if (failures) return 1;
  printf("journal ok\n");
  return 0;
}
