/*
** segment.c: create, attach and release the shared files of a namespace.
** See segment.h for the contract; the liveness rule (every process that maps
** a file holds LOCK_SH on it) is what horus_segment_in_use relies on.
*/
#define _GNU_SOURCE
#include "segment.h"
#include "horus.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

void hseg_err(char *err, const char *fmt, ...) {
  if (!err) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, HORUS_ERRLEN, fmt, ap);
  va_end(ap);
}

static int create(const char *path, size_t len, hseg_init_fn init, const void *arg, char *err) {
  char tmp[4096];
  const char *slash = strrchr(path, '/');
  int dirlen = slash ? (int)(slash - path) : 0;
  if ((size_t)snprintf(tmp, sizeof tmp, "%.*s/.new.%ld.%llu", dirlen, path, (long)getpid(),
                       (unsigned long long)horus_now_ns()) >= sizeof tmp) {
    hseg_err(err, "path too long: %s", path);
    errno = ENAMETOOLONG;
    return HORUS_ESYS;
  }
  int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    hseg_err(err, "cannot create %s: %s", tmp, strerror(errno));
    return HORUS_ESYS;
  }
  /* fallocate, not ftruncate alone: a full /dev/shm must fail here with
  ** ENOSPC, not later with SIGBUS in the middle of a write. */
  int rc = fchmod(fd, 0600) == 0 ? posix_fallocate(fd, 0, (off_t)len) : errno;
  void *p = MAP_FAILED;
  if (rc == 0) p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (rc == 0 && p == MAP_FAILED) rc = errno;
  if (rc != 0) {
    hseg_err(err, "cannot allocate %zu bytes for %s: %s (is /dev/shm full?)", len, path, strerror(rc));
    close(fd);
    unlink(tmp);
    errno = rc;
    return HORUS_ESYS;
  }
  init(p, len, arg);
  munmap(p, len);
  close(fd);
  /* link() makes the finished file visible under its name; attachers map it
  ** afresh, so its pages need no further ordering. */
  rc = link(tmp, path) == 0 ? 0 : errno;
  unlink(tmp);
  if (rc != 0) {
    if (rc != EEXIST) hseg_err(err, "cannot create %s: %s", path, strerror(rc));
    errno = rc;
    return HORUS_ESYS;
  }
  return HORUS_OK;
}

static int attach(const char *path, hseg *s, char *err) {
  /* O_NOFOLLOW: a link planted in the namespace must not make us map (and write) another file. */
  s->fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (s->fd < 0) {
    int e = errno;
    hseg_err(err, "cannot open %s: %s", path, strerror(e));
    errno = e;
    return HORUS_ESYS;
  }
  struct stat st;
  if (flock(s->fd, LOCK_SH) != 0 || fstat(s->fd, &st) != 0) {
    hseg_err(err, "cannot lock %s: %s", path, strerror(errno));
    return HORUS_ESYS;
  }
  /* Only segments of this user: a file another user made (root included) is theirs to rewrite. */
  if (!S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
    hseg_err(err, "%s is not a segment of this user (uid %u; it belongs to uid %u): refused; run horus clean "
             "--shm as that user, or set HORUS_NAMESPACE to another name", path, (unsigned)geteuid(),
             (unsigned)st.st_uid);
    errno = EPERM;
    return HORUS_ESYS;
  }
  if (st.st_size <= 0) {
    hseg_err(err, "%s is empty: not a HORUS segment; run horus clean --shm", path);
    return HORUS_ECORRUPT;
  }
  void *p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
  if (p == MAP_FAILED) {
    hseg_err(err, "cannot map %s: %s", path, strerror(errno));
    return HORUS_ESYS;
  }
  s->map = p;
  s->len = (size_t)st.st_size;
  return HORUS_OK;
}

int hseg_open(const char *path, size_t len, hseg_init_fn init, const void *arg, int create_it, hseg *s, char *err) {
  for (int attempt = 0; attempt < 4; attempt++) {
    int rc = attach(path, s, err);
    if (rc == HORUS_ESYS && errno == ENOENT && create_it) {
      hseg_close(s);
      rc = create(path, len, init, arg, err);
      if (rc == HORUS_OK || (rc == HORUS_ESYS && errno == EEXIST)) continue; /* attach what is there */
    }
    if (rc != HORUS_OK) hseg_close(s);
    return rc;
  }
  hseg_err(err, "%s keeps disappearing while being opened (is horus clean --shm --force running?)", path);
  return HORUS_ESYS;
}

int hseg_drop_if_stale(hseg *s, const char *path) {
  if (s->fd < 0 || flock(s->fd, LOCK_EX | LOCK_NB) != 0) return 0;
  unlink(path);
  hseg_close(s);
  return 1;
}

void hseg_close(hseg *s) {
  if (s->map) munmap(s->map, s->len);
  if (s->fd >= 0) close(s->fd);
  s->map = NULL;
  s->len = 0;
  s->fd = -1;
}

int horus_ns_prepare(const char *path, char *err) {
  if (mkdir(path, 0700) != 0 && errno != EEXIST) {
    hseg_err(err, "cannot create namespace directory %s: %s", path, strerror(errno));
    return HORUS_ESYS;
  }
  struct stat st;
  if (lstat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
    hseg_err(err, "%s is not a directory: remove it (horus clean --shm --force)", path);
    errno = ENOTDIR;
    return HORUS_ESYS;
  }
  /* Root too: a directory another user planted would let them swap our segments under us. */
  if (st.st_uid != geteuid()) {
    hseg_err(err, "namespace directory %s belongs to uid %u, not to this user (uid %u): run as that user or "
            "set HORUS_NAMESPACE to another name", path, (unsigned)st.st_uid, (unsigned)geteuid());
    errno = EPERM;
    return HORUS_ESYS;
  }
  if ((st.st_mode & 077) != 0) {
    hseg_err(err, "namespace directory %s is readable by other users (mode %o): chmod 700 %s", path,
            (unsigned)(st.st_mode & 0777), path);
    errno = EPERM;
    return HORUS_ESYS;
  }
  return HORUS_OK;
}

int horus_segment_in_use(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return HORUS_ESYS;
  /* Exclusive succeeds only if no process holds the shared lock it takes while mapped. */
  int busy = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  close(fd); /* closing drops our probe lock, if we got it */
  return busy;
}
