/*
** segment.h: files in a namespace directory that processes map shared.
** Internal to the core (not API): topics, the log ring and the stats
** registry are all such files, created and attached the same way.
*/
#ifndef HORUS_SEGMENT_H
#define HORUS_SEGMENT_H

#include <stddef.h>

typedef struct hseg {
  int fd;
  void *map;
  size_t len;
  int guard; /* its [SHRINK GUARD] entry (segment.c), -1 when detached */
} hseg;

#define HSEG_INIT {-1, NULL, 0, -1}

/* Fill a new segment's memory (it arrives zeroed). */
typedef void (*hseg_init_fn)(void *map, size_t len, const void *arg);

/* Format one line into err (HORUS_ERRLEN bytes); err may be NULL. */
void hseg_err(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
** Attach the file at path: open it, take the shared flock that marks it live
** for as long as it stays attached, and map it whole. With create and no file
** there, first create one of len bytes, initialised by init, under a temporary
** name and link() it into place: a file at `path` is always complete, and of
** two processes creating it at once exactly one wins and both attach the same.
** The mapping is under the [SHRINK GUARD] (segment.c) from the start; once
** the caller has checked the header, horus_shm_guard_header(s->guard, n)
** says which of its bytes are constant.
** On error s is left detached and err says what failed.
*/
int hseg_open(const char *path, size_t len, hseg_init_fn init, const void *arg, int create, hseg *s, char *err);

/*
** Remove the attached file at path if no other process holds it (it is
** stale), and detach; 1 if it was removed, 0 (still attached) if it is live.
** Converting our shared flock to exclusive without blocking succeeds only
** when nobody else has one.
*/
int hseg_drop_if_stale(hseg *s, const char *path);

/*
** Write back the constant header bytes registered for s (horus_shm_guard_header)
** if another process changed them, so that processes opening the file later
** can still read it; 1 if it did. For writers, on their own path (a memcmp of
** at most HORUS_SHM_GUARD_HEADER_MAX bytes of a read-mostly cache line).
*/
int hseg_restore_header(const hseg *s);

/* Unmap and close (dropping the flock). Safe on a detached hseg. */
void hseg_close(hseg *s);

#endif /* HORUS_SEGMENT_H */
