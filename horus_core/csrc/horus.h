/*
** horus.h: the whole contract of the HORUS native core.
**
** If it is not in this header, it is not API. The core gives a robot's
** processes three things: topics (rings of messages in shared memory),
** precise absolute-deadline sleeps, and segment liveness for cleanup.
** It knows nothing of Python; the extension module (module.c) wraps it.
**
** Shared memory lives in one directory per namespace (see horus_ns_dir), mode
** 0700, files 0600: only the service user (and root) can read or write them.
**
** Threads: a horus_topic handle may be used by several threads of one process
** only if the caller serialises calls on it (the Python module holds the GIL).
** Different handles, in any processes, need no coordination.
**
** Every function returns HORUS_OK (0) or a negative HORUS_E* code. Functions
** that can fail for a reason worth telling a human also fill `err` (a buffer
** of HORUS_ERRLEN bytes) with a one-line message naming the topic and the fix.
*/
#ifndef HORUS_H
#define HORUS_H

#include <stddef.h>
#include <stdint.h>

#define HORUS_OK 0
#define HORUS_EMPTY (-1)    /* no message is ready for this cursor */
#define HORUS_ERETRY (-2)   /* a copy raced an overwrite: discard it, peek again */
#define HORUS_ESYS (-3)     /* a system call failed; errno is set, err says which */
#define HORUS_ELAYOUT (-4)  /* the segment exists with another layout or format */
#define HORUS_EBUSY (-5)    /* another process already publishes on this topic */
#define HORUS_ETOOBIG (-6)  /* the message does not fit the topic's slot size */
#define HORUS_ECORRUPT (-7) /* the file is not a HORUS topic of a known version */
#define HORUS_EINVAL (-8)   /* bad argument: name, size or capacity */

#define HORUS_ERRLEN 256
#define HORUS_NAME_MAX 200

/* Topic segment format version; see the layout drawing in topic.c. */
#define HORUS_TOPIC_VERSION 1u

/* ---- Topics --------------------------------------------------------------- */

typedef struct horus_topic horus_topic;

typedef struct horus_topic_cfg {
  uint32_t slot_size; /* max payload bytes per message; 0 = take the existing one or the default */
  uint32_t capacity;  /* slots in the ring, a power of two; 0 = existing or default */
  uint32_t format;    /* payload format id; 0 = any (take the existing one) */
  int create;         /* nonzero: create the segment if it does not exist */
} horus_topic_cfg;

/* 64 KiB of payload plus room for the Python codec's framing of it. */
#define HORUS_DEFAULT_SLOT_SIZE (64u * 1024u + 256u)
#define HORUS_DEFAULT_CAPACITY 16u
#define HORUS_MAX_SLOT_SIZE (256u * 1024u * 1024u)

/*
** Open (and with cfg->create, create) topic `name` in directory `dir`.
** On success *out is a new handle holding a shared flock on the segment for
** as long as it is open: that lock is how horus_segment_in_use tells a live
** segment from a stale one. A segment that exists with a different slot size
** or format than requested is HORUS_ELAYOUT if any other process holds it,
** and is replaced by a fresh one if none does (it is stale). Without create,
** a missing segment is HORUS_ESYS with errno ENOENT.
** Any process, any thread (the handle is new). dir, name, cfg, out: non-NULL.
*/
int horus_topic_open(const char *dir, const char *name, const horus_topic_cfg *cfg, horus_topic **out,
                     char *err);

/* Unmap and close; releases the publisher claim and the shared flock. NULL is a no-op. */
void horus_topic_close(horus_topic *t);

uint32_t horus_topic_slot_size(const horus_topic *t);
uint32_t horus_topic_capacity(const horus_topic *t);
uint32_t horus_topic_format(const horus_topic *t);
/* Messages ever published on this segment (the sequence number of the next one). */
uint64_t horus_topic_head(const horus_topic *t);

/*
** Become the topic's publisher. One process publishes on a topic at a time:
** the claim is an OFD lock on the segment, released when the handle closes or
** the process dies (so a restarted publisher can claim again at once).
** HORUS_EBUSY, with the holder's pid in err, when another process holds it.
** Idempotent on the same handle.
*/
int horus_topic_claim_publisher(horus_topic *t, char *err);

typedef struct horus_iov {
  const void *base;
  size_t len;
} horus_iov;

/*
** Publish one message made of `nparts` buffers, concatenated. Requires the
** publisher claim. Never blocks, never waits for readers: a slow reader loses
** the oldest messages, not the writer's time. HORUS_ETOOBIG when the parts
** exceed the slot size (nothing is written). *seq_out (may be NULL) gets the
** message's sequence number.
*/
int horus_topic_publish(horus_topic *t, const horus_iov *parts, int nparts, uint64_t *seq_out, char *err);

/* A subscriber's position: the next sequence it wants and what it has missed. */
typedef struct horus_cursor {
  uint64_t next;
  uint64_t missed;
} horus_cursor;

/* Start a cursor at the next message to be published (a new subscriber does not see history). */
void horus_cursor_init(const horus_topic *t, horus_cursor *c);

/* A message in place, valid only until horus_topic_confirm says whether the copy held. */
typedef struct horus_msg_view {
  uint64_t seq;
  uint64_t stamp_ns; /* CLOCK_MONOTONIC time of publish */
  const void *data;  /* points into shared memory: copy it, never keep it */
  uint32_t len;
} horus_msg_view;

/*
** Look at the cursor's next message without consuming it. HORUS_OK fills *v;
** HORUS_EMPTY when nothing new is there. A cursor that fell more than a ring
** behind jumps to the oldest message still in the ring and adds what it
** skipped to c->missed. The bytes at v->data may be overwritten while the
** caller copies them: copy, then call horus_topic_confirm.
*/
int horus_topic_peek(const horus_topic *t, horus_cursor *c, horus_msg_view *v);

/*
** After copying v->data: HORUS_OK if the copy is the whole message as
** published (the cursor moves past it), HORUS_ERETRY if the publisher
** overwrote the slot meanwhile (discard the copy; the next peek counts the loss).
*/
int horus_topic_confirm(const horus_topic *t, horus_cursor *c, const horus_msg_view *v);

/* ---- Namespaces and liveness ---------------------------------------------- */

/*
** Create (if needed) the namespace directory `path` with mode 0700 and check
** that it is a directory owned by this user and private. Refuses a directory
** that other users can read or write (HORUS_ESYS with EPERM, err says chmod).
*/
int horus_ns_prepare(const char *path, char *err);

/*
** 1 if some process holds `path` (a topic segment or any file HORUS maps with a
** shared flock), 0 if none does (the file is stale), negative on error.
** Never blocks; never disturbs the holders.
*/
int horus_segment_in_use(const char *path);

/* ---- Timing --------------------------------------------------------------- */

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t horus_now_ns(void);

/*
** Sleep until the absolute CLOCK_MONOTONIC time deadline_ns (clock_nanosleep,
** TIMER_ABSTIME: no drift from computing "how long" late). Returns HORUS_OK
** when the deadline passed, HORUS_ESYS with errno EINTR when a signal arrived
** first (the caller handles signals, then sleeps again).
*/
int horus_sleep_until(uint64_t deadline_ns);

/* Lower this thread's timer slack to 1 ns so absolute sleeps wake on time. */
void horus_timer_slack_min(void);

/* mlockall(MCL_CURRENT|MCL_FUTURE); HORUS_ESYS with errno on refusal. */
int horus_lock_memory(void);

#endif /* HORUS_H */
