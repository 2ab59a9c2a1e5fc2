/*
** journal.c: a log record as one datagram of journald's native protocol.
**
** The format is systemd's (journald-native.c); horus.h states it. Records
** are built here rather than in Python because a node may log every tick:
** building them in Python cost several times the sendto(2) itself.
*/
#define _GNU_SOURCE
#include "horus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

/*
** Where the next bytes go. Past cap it only counts, so one pass both fills
** a buffer that is large enough and sizes the one that was not.
*/
typedef struct {
  char *buf;
  size_t cap, len;
} sink;

static void put(sink *o, const void *p, size_t n) {
  if (o->len <= o->cap && n <= o->cap - o->len && n > 0) memcpy(o->buf + o->len, p, n);
  o->len += n;
}

/* "KEY=value\n", or "KEY\n" + le64 length + value + "\n" when the value has a newline (journald would split it). */
static void field(sink *o, const char *key, const char *v, size_t n) {
  put(o, key, strlen(key));
  if (n == 0 || !memchr(v, '\n', n)) {
    put(o, "=", 1);
    put(o, v, n);
    put(o, "\n", 1);
    return;
  }
  unsigned char le[9] = {'\n'};
  for (int i = 0; i < 8; i++) le[1 + i] = (unsigned char)((uint64_t)n >> (8 * i));
  put(o, le, sizeof le);
  put(o, v, n);
  put(o, "\n", 1);
}

/* A decimal field; snprintf costs more than the rest of a short record. */
static void number(sink *o, const char *key, int64_t v) {
  char digits[24], *p = digits + sizeof digits;
  uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
  do *--p = (char)('0' + u % 10);
  while ((u /= 10) != 0);
  if (v < 0) *--p = '-';
  field(o, key, p, (size_t)(digits + sizeof digits - p));
}

static void unsigned_number(sink *o, const char *key, uint64_t v) {
  char digits[24], *p = digits + sizeof digits;
  do *--p = (char)('0' + v % 10);
  while ((v /= 10) != 0);
  field(o, key, p, (size_t)(digits + sizeof digits - p));
}

char horus_journal_priority(long level) {
  return level >= 40 ? '3' : level >= 30 ? '4' : level >= 20 ? '6' : '7';
}

size_t horus_journal_encode(char *buf, size_t cap, const horus_journal_record *rec) {
  sink o = {buf, buf ? cap : 0, 0};
  char priority = horus_journal_priority(rec->level);
  field(&o, "MESSAGE", rec->message, rec->message_len);
  field(&o, "PRIORITY", &priority, 1);
  field(&o, "SYSLOG_IDENTIFIER", rec->identifier, rec->identifier_len);
  field(&o, "HORUS_NODE", rec->node, rec->node_len);
  unsigned_number(&o, "HORUS_TICK", rec->tick);
  number(&o, "HORUS_PID", rec->pid);
  if (rec->code_file) {
    field(&o, "CODE_FILE", rec->code_file, rec->code_file_len);
    number(&o, "CODE_LINE", rec->code_line);
    field(&o, "CODE_FUNC", rec->code_func, rec->code_func_len);
  }
  return o.len;
}

/* Records up to this long (nearly all) are built on the stack; longer ones in a heap buffer. */
#define DGRAM_STACK 2048u

/*
** send(2) on fd, connected to addr first if it is not (or its peer went away,
** e.g. journald's socket was replaced). Connected, the kernel skips the path
** lookup sendto(2) with an address does per datagram: half its cost (measured).
*/
static ssize_t send_connected(int fd, const char *buf, size_t len, const struct sockaddr_un *addr, socklen_t addr_len) {
  for (int connected = 0;;) {
    /* MSG_DONTWAIT: a full journald queue drops this record instead of stalling a tick. A
    ** datagram goes whole or not at all, so there is no short write to resume. */
    ssize_t sent = send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent >= 0 || errno == EINTR) {
      if (sent >= 0) return sent;
      continue;
    }
    if (connected || (errno != ENOTCONN && errno != EDESTADDRREQ && errno != ECONNREFUSED)) return -1;
    int rc;
    do rc = connect(fd, (const struct sockaddr *)addr, addr_len);
    while (rc < 0 && errno == EINTR);
    if (rc < 0) return -1;
    connected = 1;
  }
}

int horus_journal_send(int fd, const char *path, size_t path_len, const horus_journal_record *rec) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (path_len > sizeof addr.sun_path) {
    errno = ENAMETOOLONG;
    return HORUS_ESYS;
  }
  memcpy(addr.sun_path, path, path_len);
  char stack[DGRAM_STACK], *buf = stack;
  size_t len = horus_journal_encode(stack, sizeof stack, rec);
  if (len > sizeof stack) {
    if (!(buf = malloc(len))) {
      errno = ENOMEM;
      return HORUS_ESYS;
    }
    (void)horus_journal_encode(buf, len, rec);
  }
  ssize_t sent = send_connected(fd, buf, len, &addr, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_len));
  int saved = errno;
  if (buf != stack) free(buf);
  errno = saved;
  return sent < 0 ? HORUS_ESYS : HORUS_OK;
}
