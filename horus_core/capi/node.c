/*
** node.c: typed topics for compiled nodes (contract in horus_node.h), over the core's topics.
*/
#define _GNU_SOURCE /* flock, O_NOFOLLOW, clock_gettime under -std=c11 */
#include "horus_node.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/un.h>
#include <unistd.h>

/* Python's codec: payload format 1, and the tag of a typed message (horus/messaging/codec.py). */
#define FORMAT_ID 1u
#define TAG_MESSAGE 0x4Du
/* recv waits by spinning this long before sleeping on the futex, as Python's recv(timeout=) does. */
#define SPIN_NS 50000u
#define PATH_MAX_ 512

/* namespace.topic_file: bytes outside [A-Za-z0-9_.-] as %XX, and a leading '.' as %2E. */
/* snprintf into a path, refusing one that does not fit: a truncated path names another file
   (another namespace's, possibly), never an error, so a too-long namespace must fail here. */
static int path_of(char *out, size_t cap, char *err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(out, cap, fmt, ap);
  va_end(ap);
  if (n >= 0 && (size_t)n < cap) return HORUS_OK;
  if (err) snprintf(err, HORUS_ERRLEN, "path %.64s... is longer than %zu bytes: use a shorter namespace", out, cap - 1);
  return HORUS_EINVAL;
}

/* namespace.py's rule: 1-64 of [A-Za-z0-9_.-], not starting with '.' or '-' (never "..", never a path). */
static int valid_ns(const char *ns) {
  size_t len = strlen(ns);
  if (len == 0 || len > 64 || ns[0] == '.' || ns[0] == '-') return 0;
  return strspn(ns, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == len;
}

static int escape_name(const char *name, char *out, size_t cap) {
  static const char hex[] = "0123456789ABCDEF";
  size_t n = 0;
  for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
    int safe = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' ||
               *p == '-' || (*p == '.' && p != (const unsigned char *)name);
    if (n + 4 > cap) return -1;
    if (safe) {
      out[n++] = (char)*p;
    } else {
      out[n++] = '%';
      out[n++] = hex[*p >> 4];
      out[n++] = hex[*p & 15];
    }
  }
  out[n] = '\0';
  return n > 0 && n <= 190 ? 0 : -1;
}

int horus_msg_topic_open(const char *ns, const char *name, uint32_t type_id, uint64_t layout_hash, uint32_t size,
                         horus_msg_topic *out, char *err) {
  memset(out, 0, sizeof *out);
  if (!ns) ns = getenv("HORUS_NAMESPACE");
  if (!ns || !*ns) ns = "default";
  char file[HORUS_NAME_MAX + 1], dir[PATH_MAX_], topics[PATH_MAX_];
  if (escape_name(name, file, sizeof file) != 0 || !valid_ns(ns) || size == 0) {
    if (err)
      snprintf(err, HORUS_ERRLEN, "bad topic name %s, namespace %s (1-64 of A-Z a-z 0-9 _ . -) or message size %u",
               name, ns, size);
    return HORUS_EINVAL;
  }
  int rc = path_of(dir, sizeof dir, err, "/dev/shm/horus.%s", ns);
  if (rc == HORUS_OK) rc = path_of(topics, sizeof topics, err, "%s/topics", dir);
  if (rc == HORUS_OK) rc = horus_ns_prepare(dir, err);
  if (rc == HORUS_OK) rc = horus_ns_prepare(topics, err);
  if (rc != HORUS_OK) return rc;
  horus_topic_cfg cfg = {0, 0, FORMAT_ID, 1};
  rc = horus_topic_open(topics, file, &cfg, &out->topic, err);
  if (rc != HORUS_OK) return rc;
  out->scratch = malloc(HORUS_MSG_HEADER + size);
  if (!out->scratch) {
    horus_topic_close(out->topic);
    out->topic = NULL;
    if (err) snprintf(err, HORUS_ERRLEN, "out of memory for a %u-byte message of topic %s", size, name);
    errno = ENOMEM;
    return HORUS_ESYS;
  }
  horus_cursor_init(out->topic, &out->cursor);
  out->type_id = type_id;
  out->layout_hash = layout_hash;
  out->size = size;
  return HORUS_OK;
}

void horus_msg_topic_close(horus_msg_topic *mt) {
  horus_topic_close(mt->topic);
  free(mt->scratch);
  memset(mt, 0, sizeof *mt);
}

static void put_le(uint8_t *p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

int horus_msg_publish(horus_msg_topic *mt, const void *msg, char *err) {
  if (!mt->claimed) {
    int rc = horus_topic_claim_publisher(mt->topic, err);
    if (rc != HORUS_OK) return rc;
    mt->claimed = 1;
  }
  uint8_t header[HORUS_MSG_HEADER];
  header[0] = TAG_MESSAGE;
  put_le(header + 1, mt->type_id, 4);
  put_le(header + 5, mt->layout_hash, 8);
  horus_iov parts[2] = {{header, sizeof header}, {msg, mt->size}};
  return horus_topic_publish(mt->topic, parts, 2, NULL, err);
}

/* Copy the next message into scratch, whole or not at all (HORUS_OK, its length in *len). At most
** 16 copies, each overwritten by the publisher meanwhile (or by a process flipping seq words):
** then there is no message, rather than a loop without end. */
static int take(horus_msg_topic *mt, uint32_t *len) {
  for (int attempt = 0; attempt < 16; attempt++) {
    horus_msg_view v;
    if (horus_topic_peek(mt->topic, &mt->cursor, &v) == HORUS_EMPTY) return HORUS_EMPTY;
    uint32_t n = v.len < HORUS_MSG_HEADER + mt->size ? v.len : HORUS_MSG_HEADER + mt->size;
    /* Races the publisher on purpose: see [PAYLOAD RACE] in hatomic.h; confirm decides. */
    memcpy(mt->scratch, v.data, n);
    if (horus_topic_confirm(mt->topic, &mt->cursor, &v) == HORUS_OK) {
      *len = v.len;
      return HORUS_OK;
    }
  }
  return HORUS_EMPTY;
}

int horus_msg_recv(horus_msg_topic *mt, void *msg, uint64_t timeout_ns, char *err) {
  uint32_t len = 0;
  horus_topic_subscribe(mt->topic); /* a handle that receives is a subscriber; a flag test after the first */
  int rc = take(mt, &len);
  if (rc == HORUS_EMPTY && timeout_ns) {
    rc = horus_topic_wait(mt->topic, &mt->cursor, SPIN_NS, timeout_ns);
    if (rc != HORUS_OK) return rc;
    rc = take(mt, &len);
  }
  if (rc != HORUS_OK) return rc;
  const uint8_t *h = mt->scratch;
  if (len != HORUS_MSG_HEADER + mt->size || h[0] != TAG_MESSAGE || get_le(h + 1, 4) != mt->type_id ||
      get_le(h + 5, 8) != mt->layout_hash) {
    if (err)
      snprintf(err, HORUS_ERRLEN,
               "the topic's next message (%u bytes, type id %#010llx) is not of this type (id %#010x, %u bytes) "
               "and layout: publish one type per topic, from one HORUS version",
               len, len >= 5 && h[0] == TAG_MESSAGE ? (unsigned long long)get_le(h + 1, 4) : 0ull, mt->type_id,
               mt->size);
    return HORUS_EMSGTYPE;
  }
  memcpy(msg, h + HORUS_MSG_HEADER, mt->size);
  return HORUS_OK;
}

/* ---- Nodes ---------------------------------------------------------------------------- */

#define JOURNAL_SOCKET "/run/systemd/journal/socket"

/* journal.stderr_is_journal_stream: $JOURNAL_STREAM ("device:inode") names fd 2 itself. */
static int stderr_is_journal(void) {
  const char *v = getenv("JOURNAL_STREAM");
  unsigned long long dev, ino;
  struct stat st;
  if (!v || sscanf(v, "%llu:%llu", &dev, &ino) != 2 || fstat(2, &st) != 0) return 0;
  return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

static const char *node_ns(const char *ns) {
  if (!ns) ns = getenv("HORUS_NAMESPACE");
  return ns && *ns ? ns : "default";
}

int horus_node_open(horus_node *n, const char *ns, const char *name, double rate_hz, char *err) {
  memset(n, 0, sizeof *n);
  n->journal_fd = -1;
  ns = node_ns(ns);
  char dir[PATH_MAX_], sub[PATH_MAX_];
  if (!valid_ns(ns) || !*name) {
    if (err) snprintf(err, HORUS_ERRLEN, "bad node name %s or namespace %s (1-64 of A-Z a-z 0-9 _ . -)", name, ns);
    return HORUS_EINVAL;
  }
  snprintf(n->name, sizeof n->name, "%s", name);
  n->rate_hz = rate_hz;
  int rc = path_of(dir, sizeof dir, err, "/dev/shm/horus.%s", ns);
  if (rc == HORUS_OK) rc = path_of(sub, sizeof sub, err, "%s/stats", dir);
  if (rc == HORUS_OK) rc = horus_ns_prepare(dir, err);
  if (rc == HORUS_OK) rc = horus_ns_prepare(sub, err);
  /* The pid names the file as Python's schedulers' do (registry.py); ".c" keeps it apart from theirs. */
  if (rc == HORUS_OK) rc = path_of(n->registry_path, sizeof n->registry_path, err, "%s/%ld.c", sub, (long)getpid());
  if (rc == HORUS_OK) rc = horus_stats_create(n->registry_path, n->name, (uint32_t)getpid(), 1, &n->registry, err);
  if (rc != HORUS_OK) return rc;
  if (path_of(sub, sizeof sub, NULL, "%s/log", dir) != HORUS_OK ||
      horus_logring_open(sub, 0, 1, &n->log, NULL) != HORUS_OK)
    n->log = NULL;
  if (stderr_is_journal()) n->journal_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  horus_tick_init(&n->ticks);
  horus_node_set_state(n, HORUS_STATE_RUNNING);
  return HORUS_OK;
}

void horus_node_tick(horus_node *n, int64_t start_ns, int64_t end_ns, unsigned flags) {
  horus_tick_record(&n->ticks, start_ns, end_ns, flags);
  horus_stats_publish(n->registry, 0, n->name, n->rate_hz, &n->ticks, end_ns);
}

void horus_node_set_state(horus_node *n, uint32_t state) {
  if (state == HORUS_STATE_FAILED) horus_tick_error(&n->ticks);
  n->ticks.state = state;
  horus_stats_publish(n->registry, 0, n->name, n->rate_hz, &n->ticks, (int64_t)horus_now_ns());
}

void horus_node_log(horus_node *n, long level, const char *message) {
  size_t len = strlen(message);
  if (n->log) horus_logring_append(n->log, (uint8_t)level, n->name, n->ticks.total_ticks, message, len);
  if (n->journal_fd >= 0) {
    horus_journal_record rec;
    memset(&rec, 0, sizeof rec);
    rec.level = level;
    rec.tick = n->ticks.total_ticks;
    rec.pid = (int64_t)getpid();
    rec.message = message;
    rec.message_len = len;
    rec.identifier = rec.node = n->name;
    rec.identifier_len = rec.node_len = strlen(n->name);
    /* A record journald cannot take now is dropped, never waited for: a tick must not block. */
    if (horus_journal_send(n->journal_fd, JOURNAL_SOCKET, strlen(JOURNAL_SOCKET), &rec) == HORUS_OK) return;
  }
  horus_log_write_line(2, level, n->name, strlen(n->name), message, len);
}

int horus_node_notify(const char *state) {
  const char *where = getenv("NOTIFY_SOCKET");
  if (!where || !*where) return 0;
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  size_t len = strlen(where);
  if (len >= sizeof addr.sun_path || (where[0] != '/' && where[0] != '@')) {
    errno = EINVAL;
    return HORUS_ESYS;
  }
  memcpy(addr.sun_path, where, len);
  if (where[0] == '@') addr.sun_path[0] = '\0'; /* an abstract socket */
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return HORUS_ESYS;
  /* MSG_DONTWAIT: a datagram socket blocks the sender when the reader's queue is full (systemd
     busy or stopped); a tick must never wait for it. */
  ssize_t sent = sendto(fd, state, strlen(state), MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&addr,
                        (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
  int saved = errno;
  close(fd);
  errno = saved;
  return sent < 0 ? HORUS_ESYS : 1;
}

void horus_node_close(horus_node *n) {
  if (n->registry) {
    horus_node_set_state(n, HORUS_STATE_STOPPED);
    horus_stats_close(n->registry);
    unlink(n->registry_path);
  }
  horus_logring_close(n->log);
  if (n->journal_fd >= 0) close(n->journal_fd);
  memset(n, 0, sizeof *n);
  n->journal_fd = -1;
}

int horus_update_hold(horus_hold *h, const char *ns, const char *reason, char *err) {
  static unsigned counter; /* per process; the pid keeps processes apart */
  h->fd = -1;
  h->path[0] = '\0';
  ns = node_ns(ns);
  if (!valid_ns(ns)) {
    if (err) snprintf(err, HORUS_ERRLEN, "bad namespace %s (1-64 of A-Z a-z 0-9 _ . -)", ns);
    return HORUS_EINVAL;
  }
  char dir[PATH_MAX_], holds[PATH_MAX_];
  int rc = path_of(dir, sizeof dir, err, "/dev/shm/horus.%s", ns);
  if (rc == HORUS_OK) rc = path_of(holds, sizeof holds, err, "%s/holds", dir);
  if (rc == HORUS_OK) rc = horus_ns_prepare(dir, err);
  if (rc == HORUS_OK) rc = horus_ns_prepare(holds, err);
  unsigned n = __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
  if (rc == HORUS_OK) rc = path_of(h->path, sizeof h->path, err, "%s/%ld.c%u.hold", holds, (long)getpid(), n);
  if (rc != HORUS_OK) return rc;
  h->fd = open(h->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  /* The lock before the content: a reader that finds the file empty still sees it held. */
  if (h->fd < 0 || flock(h->fd, LOCK_EX) != 0) {
    if (err) snprintf(err, HORUS_ERRLEN, "cannot hold updates in %.160s: %.60s", h->path, strerror(errno));
    if (h->fd >= 0) {
      close(h->fd);
      unlink(h->path);
    }
    h->fd = -1;
    return HORUS_ESYS;
  }
  /* JSON of a string the caller chose: quotes, backslashes and control bytes become '?'. */
  char text[201];
  size_t i = 0;
  for (const unsigned char *p = (const unsigned char *)(reason ? reason : "busy"); *p && i < 200; p++)
    text[i++] = (*p < 0x20 || *p == '"' || *p == '\\' || *p == 0x7f) ? '?' : (char)*p;
  text[i] = '\0';
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  char body[400];
  int len = snprintf(body, sizeof body, "{\"reason\": \"%s\", \"holder\": \"compiled node %ld\", \"pid\": %ld, "
                     "\"since\": %lld.%03ld, \"until\": null}", text, (long)getpid(), (long)getpid(),
                     (long long)now.tv_sec, now.tv_nsec / 1000000);
  ssize_t written = len > 0 ? write(h->fd, body, (size_t)len) : 0;
  (void)written; /* a hold whose reason could not be written is still a hold: its lock is what counts */
  return HORUS_OK;
}

void horus_update_release(horus_hold *h) {
  if (h->fd < 0) return;
  unlink(h->path);
  close(h->fd); /* drops the lock */
  h->fd = -1;
}
