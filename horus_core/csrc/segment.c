/*
** segment.c: create, attach and release the shared files of a namespace.
** See segment.h for the contract; the liveness rule (every process that maps
** a file holds LOCK_SH on it) is what horus_segment_in_use relies on.
**
** [SHRINK GUARD] Any process of the user can truncate a segment it can open,
** and every later touch of a page past the new end of the file raises SIGBUS
** in each process that maps it: a publisher, all its subscribers, a motor
** controller. Seals (F_SEAL_SHRINK) exist only for memfds, which other
** processes cannot open by name, so the core lets the file shrink and grows
** it back instead: every mapping of a segment is registered in a table here
** (horus_shm_guard; hseg_open does it for the core's own segments), and a
** SIGBUS handler, installed with the first registration, looks the faulting
** address up. In a registered mapping it gives the file its size back
** (fallocate, which never shrinks a file another process grew), writes back
** the constant header bytes the registration copied, and returns: the
** faulting load or store runs again and finds a zero page where the truncated
** one was. To the protocols that is the same as a hostile process writing
** zeros: seq words of 0 ("never written", [SEQLOCK]), a head of 0, which
** every reader bounds (topic.c, logring.c). The repair needs no other
** process: each one that touches the file first does it, and the others then
** fault no more. If the file cannot be grown (ENOSPC), the pages are replaced
** by private zero pages: this process survives, cut off from that segment
** (its next open maps the file afresh).
**
** The handler is async-signal-safe: it reads the table without locks (an
** entry's base is stored last with release, and cleared first), calls only
** fstat, fallocate, ftruncate, mmap and sigaction, and runs on the faulting
** thread, which is the only one it resumes. SA_NODEFER lets a fault inside
** the handler (the file truncated again mid-repair) repair again; a
** per-thread depth bounds that. A fault outside every registered mapping is
** not ours: it goes to the handler installed before (Python's faulthandler
** when enabled first, else the default action, a core dump), as if the guard
** were not there. A handler installed after ours (faulthandler.enable()
** later) runs first; faulthandler's reports the fault, puts ours back and
** re-raises the signal, which ours takes as a repair request: the process
** survives, with faulthandler's report on stderr.
*/
#define _GNU_SOURCE
#include "segment.h"
#include "horus.h"
#include "hatomic.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- [SHRINK GUARD] ------------------------------------------------------------- */

#define GUARD_MAX 1024

typedef struct shm_guard {
  _Atomic uintptr_t base; /* 0: a free entry. Stored last on registration (release), cleared first */
  size_t len;
  int fd;
  uint32_t hdr_len;
  unsigned char hdr[HORUS_SHM_GUARD_HEADER_MAX]; /* the constant header bytes, written back after a repair */
} shm_guard;

static shm_guard guards[GUARD_MAX];
/* Registration and removal only (never the handler): rare, short, so a spinlock without pthreads. */
static atomic_flag guards_lock = ATOMIC_FLAG_INIT;
static struct sigaction previous_bus; /* the SIGBUS action before ours, for faults that are not ours */
static void on_sigbus(int sig, siginfo_t *info, void *ctx);
/* Faults being handled on this thread: bounds a repair that faults again. Initial-exec, so the
** handler's access is a plain load (a dynamic TLS access may allocate, which a handler must not). */
static __thread int bus_depth __attribute__((tls_model("initial-exec")));

static void guards_lock_take(void) {
  while (atomic_flag_test_and_set_explicit(&guards_lock, memory_order_acquire)) sched_yield();
}
static void guards_lock_give(void) { atomic_flag_clear_explicit(&guards_lock, memory_order_release); }

/* Give the file of guard g its size back, and its header; 0 if neither can be done. */
static int repair(shm_guard *g, uintptr_t base) {
  /* Mode 0 extends a shorter file and never shrinks a longer one, and allocates every page up to
  ** len: a hole punched in the file is a SIGBUS too, when tmpfs is full on the write that would
  ** fill it, and then this fails with ENOSPC instead of leaving the access to fault forever.
  ** ftruncate for a filesystem without fallocate (not tmpfs). */
  struct stat st;
  int grown = fallocate(g->fd, 0, 0, (off_t)g->len) == 0 ||
              (errno == EOPNOTSUPP && fstat(g->fd, &st) == 0 &&
               ((size_t)st.st_size >= g->len || ftruncate(g->fd, (off_t)g->len) == 0));
  if (!grown) {
    /* Cut off, alive: private zero pages where the file's were. */
    if (mmap((void *)base, g->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
        MAP_FAILED)
      return 0;
  }
  if (g->hdr_len && memcmp((void *)base, g->hdr, g->hdr_len) != 0) memcpy((void *)base, g->hdr, g->hdr_len);
  return 1;
}

static void chain_previous(int sig, siginfo_t *info, void *ctx) {
  struct sigaction prev = previous_bus;
  if ((prev.sa_flags & SA_SIGINFO) && prev.sa_sigaction) {
    prev.sa_sigaction(sig, info, ctx);
  } else if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN && prev.sa_handler) {
    prev.sa_handler(sig);
  } else {
    /* The default action (a core dump), as without the guard: for a fault, the instruction runs
    ** again and faults into it; for a raised signal, raise it again (SA_NODEFER: not blocked). */
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    if (info->si_code <= 0) raise(sig);
  }
}

static void on_sigbus(int sig, siginfo_t *info, void *ctx) {
  int saved = errno;
  int handled = 0;
  if (++bus_depth <= 4) {
    uintptr_t addr = (uintptr_t)info->si_addr;
    /* BUS_ADRERR: the kernel's, an access at si_addr to a page the file no longer has (hardware
    ** errors, BUS_MCEERR_*, are not ours to retry). si_code <= 0: sent by a process; from this one,
    ** it is faulthandler re-raising a fault it reported (see above): repair whatever is short. */
    int fault = info->si_code == BUS_ADRERR;
    int raised_here = info->si_code <= 0 && info->si_pid == getpid();
    for (int i = 0; i < GUARD_MAX; i++) {
      /* Pairs with the release store in horus_shm_guard: len, fd and hdr are whole. */
      uintptr_t base = atomic_load_explicit(&guards[i].base, memory_order_acquire);
      if (!base) continue;
      if (fault && addr - base < guards[i].len) {
        handled = repair(&guards[i], base);
        break;
      }
      struct stat st;
      if (raised_here && fstat(guards[i].fd, &st) == 0 && (size_t)st.st_size < guards[i].len)
        handled |= repair(&guards[i], base);
    }
  }
  if (!handled && bus_depth == 1) chain_previous(sig, info, ctx);
  else if (!handled) { /* a fault inside our own chaining or repair loop: the default action */
    previous_bus.sa_handler = SIG_DFL;
    previous_bus.sa_flags = 0;
    chain_previous(sig, info, ctx);
  }
  bus_depth--;
  errno = saved;
}

/* Put on_sigbus in place unless it is; called with guards_lock held. */
static int install_handler(void) {
  struct sigaction cur;
  if (sigaction(SIGBUS, NULL, &cur) != 0) return -1;
  if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_sigbus) return 0;
  struct sigaction ours = {.sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO | SA_NODEFER | SA_RESTART};
  sigemptyset(&ours.sa_mask);
  previous_bus = cur;
  return sigaction(SIGBUS, &ours, NULL);
}

int horus_shm_guard(void *map, size_t len, int fd, size_t header_len, char *err) {
  if (!map || !len || fd < 0 || header_len > HORUS_SHM_GUARD_HEADER_MAX || header_len > len) {
    hseg_err(err, "horus_shm_guard: a mapping, its length, its fd and a header of at most %d bytes",
             HORUS_SHM_GUARD_HEADER_MAX);
    return HORUS_EINVAL;
  }
  guards_lock_take();
  int id = -1;
  for (int i = 0; i < GUARD_MAX && id < 0; i++)
    if (!atomic_load_explicit(&guards[i].base, memory_order_relaxed)) id = i;
  if (id < 0 || install_handler() != 0) {
    int e = id < 0 ? EMFILE : errno;
    guards_lock_give();
    hseg_err(err, id < 0 ? "a process maps at most %d shared-memory segments" : "cannot install the SIGBUS handler "
             "that keeps %d segments alive", GUARD_MAX);
    errno = e;
    return HORUS_ESYS;
  }
  shm_guard *g = &guards[id];
  g->len = len;
  g->fd = fd;
  g->hdr_len = 0;
  /* Pairs with the handler's acquire load: it sees len, fd and hdr_len once it sees base. */
  atomic_store_explicit(&g->base, (uintptr_t)map, memory_order_release);
  guards_lock_give();
  /* Copied under the guard: the file may be truncated already (the copy is then of zeros, and the
  ** caller's check of the header refuses it). */
  horus_shm_guard_header(id, header_len);
  return id;
}

void horus_shm_guard_header(int id, size_t header_len) {
  if (id < 0 || id >= GUARD_MAX || header_len > HORUS_SHM_GUARD_HEADER_MAX) return;
  shm_guard *g = &guards[id];
  uintptr_t base = atomic_load_explicit(&g->base, memory_order_relaxed);
  if (!base || header_len > g->len) return;
  /* hdr_len 0 while the bytes change: a repair meanwhile writes no half-copied header back. */
  g->hdr_len = 0;
  atomic_signal_fence(memory_order_seq_cst);
  memcpy(g->hdr, (void *)base, header_len);
  atomic_signal_fence(memory_order_seq_cst);
  g->hdr_len = (uint32_t)header_len;
}

int hseg_restore_header(const hseg *s) {
  if (s->guard < 0 || s->guard >= GUARD_MAX) return 0;
  const shm_guard *g = &guards[s->guard];
  if (!g->hdr_len || memcmp(s->map, g->hdr, g->hdr_len) == 0) return 0;
  memcpy(s->map, g->hdr, g->hdr_len); /* constants: racing another writer of the same bytes is harmless */
  return 1;
}

void horus_shm_unguard(int id) {
  if (id < 0 || id >= GUARD_MAX) return;
  guards_lock_take();
  /* Cleared first: from here on the handler passes this entry by, before its mapping goes. */
  atomic_store_explicit(&guards[id].base, 0, memory_order_release);
  guards_lock_give();
}

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
  int guard = horus_shm_guard(p, len, fd, 0, NULL); /* [SHRINK GUARD]: the temporary name is findable too */
  init(p, len, arg);
  horus_shm_unguard(guard);
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
  /* [SHRINK GUARD] before the first touch: the file may be truncated while the caller checks it. */
  s->guard = horus_shm_guard(p, s->len, s->fd, 0, err);
  return s->guard < 0 ? s->guard : HORUS_OK;
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
  horus_shm_unguard(s->guard); /* before the unmap: a later fault at this address is not ours */
  s->guard = -1;
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
