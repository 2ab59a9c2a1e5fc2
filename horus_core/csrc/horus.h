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
** A horus_logring handle may be used by any threads at once (nothing but its
** close changes it). A horus_stats handle has one writer thread (the one that
** calls horus_stats_update or horus_stats_publish on the handle
** horus_stats_create returned) and any number of reading threads at once.
** Different handles, in any processes, need no coordination. No handle may be
** closed while another thread is still in a call on it.
**
** Every function that can fail returns HORUS_OK (0) or a negative HORUS_E*
** code; each says which codes it returns. Functions that can fail for a reason
** worth telling a human also fill `err` (a buffer of HORUS_ERRLEN bytes, or
** NULL for no message) with a one-line message naming the file and the fix.
**
** Pointers: a handle argument (horus_topic, horus_logring, horus_stats) must
** be one its open function returned and not yet closed; the close functions
** also take NULL and do nothing. Other pointer arguments must not be NULL
** unless the function says what NULL means.
**
** Shared memory is not trusted after it was checked: a handle copies the
** geometry of its segment (slot size, capacity, node count, names) when it
** opens it, and every index and bound comes from that copy, so another process
** of the same user rewriting a header cannot send a read or write outside the
** mapping. Nor can it crash a process or hold it in a loop: a segment truncated
** under its users grows back in place (horus_shm_guard below), every sequence
** number read from shared memory is bounded before use (a corrupt head is "no
** message" until its writer stores a true one; see topic.c and logring.c), and
** every loop over shared memory makes a bounded number of passes. What such a
** process can still do is make readers see wrong messages or lose some.
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
#define HORUS_TOPIC_VERSION 2u

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
/*
** Messages ever published on this segment (the sequence number of the next
** one). A head another process overwrote ([HEAD CHECK] in topic.c) is not
** returned: then the count the ring's slots vouch for is (O(capacity)).
*/
uint64_t horus_topic_head(const horus_topic *t);

/*
** Become the topic's publisher. From here on the handle counts its messages
** itself, from horus_topic_head, and writes the segment's head without
** reading it back. One process publishes on a topic at a time:
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

/*
** Count this handle as one of the topic's subscribers (Topic.sub_count): an OFD
** read lock on byte 1 of the segment's file, one per handle, released when the
** handle closes or the process dies, so a killed subscriber is never counted.
** Counters read the kernel's lock table (/proc/locks): the segment's bytes do
** not change, so processes of older versions still exchange messages with it.
** A count for people, never for correctness: a failure (a hostile process
** holding a write lock there) leaves the handle uncounted, and is not an error.
** Idempotent on the same handle; horus_msg_recv calls it. Python's Topic takes
** the same lock on a descriptor of its own, so each Topic that receives counts.
*/
void horus_topic_subscribe(horus_topic *t);

/*
** The roles as locks on any descriptor of a topic's file, for a binding that
** opens its own (Python: one descriptor per Topic). The publisher's claim is
** an OFD write lock on byte HORUS_PUBLISHER_BYTE, each subscriber an OFD read
** lock on byte HORUS_SUBSCRIBER_BYTE (as /proc/locks lists them: start and
** end that byte).
**   horus_file_subscribe(fd): take a subscriber's lock: 0, or -1 (errno).
**   horus_file_claimed(fd): 1 if a descriptor, this process's too, holds the
**     publisher's claim, 0 if none, -1 (errno).
*/
#define HORUS_PUBLISHER_BYTE 0
#define HORUS_SUBSCRIBER_BYTE 1
int horus_file_subscribe(int fd);
int horus_file_claimed(int fd);

/* A subscriber's position: the next sequence it wants and what it has missed. */
typedef struct horus_cursor {
  uint64_t next;
  uint64_t missed;
} horus_cursor;

/* Start a cursor at the next message to be published (a new subscriber does not see history). */
void horus_cursor_init(const horus_topic *t, horus_cursor *c);

/*
** Wait until a message is ready for cursor c: spin for up to spin_ns, then
** sleep on the topic's futex, for at most timeout_ns in all (UINT64_MAX:
** no limit). HORUS_OK: a message is ready. HORUS_EMPTY: timed out (a head that
** fails [HEAD CHECK] is not a message: the wait goes on).
** HORUS_ESYS with errno EINTR: a signal arrived (handle it, then wait again).
** Call without holding any lock a publisher might need: it may sleep.
*/
int horus_topic_wait(horus_topic *t, const horus_cursor *c, uint64_t spin_ns, uint64_t timeout_ns);

/* A message in place, valid only until horus_topic_confirm says whether the copy held. */
typedef struct horus_msg_view {
  uint64_t seq;
  uint64_t stamp_ns; /* CLOCK_MONOTONIC time of publish */
  const void *data;  /* points into shared memory: copy it, never keep it */
  uint32_t len;
} horus_msg_view;

/*
** Look at the cursor's next message without consuming it. HORUS_OK fills *v;
** HORUS_EMPTY when nothing new is there, when the head fails [HEAD CHECK]
** (topic.c), or after capacity + 2 slots that held no readable message. A
** cursor that fell more than a ring behind jumps to the oldest message still
** in the ring and adds what it skipped to c->missed; one past the head (the
** segment was truncated or rewritten) moves back to it. The bytes at v->data may be overwritten while the
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
** that it is a directory owned by this user (root included: root does not
** adopt another user's directory) and private. Refuses a directory that other
** users own, read or write (HORUS_ESYS with EPERM, err says what to do).
** Segments inside are opened only if they are regular files of this user
** (no symlinks followed).
*/
int horus_ns_prepare(const char *path, char *err);

/*
** 1 if some process holds `path` (a topic segment or any file HORUS maps with a
** shared flock), 0 if none does (the file is stale), negative on error.
** Never blocks; never disturbs the holders.
*/
int horus_segment_in_use(const char *path);

/* ---- Segments that shrink under their users --------------------------------- */

/*
** Another process of the user can truncate any segment, and a process that
** then touches a page past the new end gets SIGBUS. The core keeps its own
** mappings (topics, log ring, stats registries) alive through that: see
** [SHRINK GUARD] in segment.c. A touch of a truncated page grows the file back
** to its mapped size in place and goes on, finding zeros there (which every
** reader of shared memory treats as it treats any hostile bytes: bounded).
** This installs a process-wide SIGBUS handler with the first registration
** (and again on a later one if another handler replaced it); faults outside
** registered mappings go to the handler that was there before, or to the
** default action. A handler put in place after it runs first: Python's
** faulthandler, enabled later, reports the first such fault on stderr and
** hands it back (the process survives); one that does not hand faults on, or
** SIG_DFL, leaves segments unguarded until the next registration. These
** functions let other mappings of shared files (horus.TensorPool's) have the
** same guard.
*/

#define HORUS_SHM_GUARD_HEADER_MAX 128

/*
** Register the shared mapping [map, map + len) of file fd (MAP_SHARED from
** offset 0, len bytes: the file's intended size). The first header_len bytes
** (at most HORUS_SHM_GUARD_HEADER_MAX; constants of a format, 0 for none) are
** copied now and written back after a repair. fd must stay open, and the
** mapping in place, until horus_shm_unguard. Any thread. Results: an id >= 0;
** HORUS_EINVAL (NULL map, len 0, fd < 0, header too long); HORUS_ESYS with
** errno EMFILE, more than 1024 registrations in the process, or sigaction's
** errno. err as everywhere (NULL: no message).
*/
int horus_shm_guard(void *map, size_t len, int fd, size_t header_len, char *err);

/*
** Copy the constant header again, now header_len bytes of the mapping (for a
** header checked after registration). Only the thread that registered id,
** before other threads use the mapping. A bad id is ignored.
*/
void horus_shm_guard_header(int id, size_t header_len);

/* Unregister (before unmapping or closing the fd). A negative id is ignored. Any thread. */
void horus_shm_unguard(int id);

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

/*
** horus_sleep_until(deadline_ns - spin_ns), then spin on the clock until
** deadline_ns: a sleep wakes late by the kernel's and the hypervisor's
** wake-up latency (tens to hundreds of microseconds on a VM, now and then),
** a spin by the clock's resolution; the spin costs a core for spin_ns.
** *overslept_ns (may be NULL) gets how far past deadline_ns - spin_ns the
** sleep woke (0 when it was not slept at all), so a caller can size spin_ns to
** what this machine's wake-ups need. Results as horus_sleep_until's.
*/
int horus_sleep_until_spin(uint64_t deadline_ns, uint64_t spin_ns, uint64_t *overslept_ns);

/* Lower this thread's timer slack to 1 ns so absolute sleeps wake on time. */
void horus_timer_slack_min(void);

/*
** Keep freed heap memory in the process (glibc: mmap threshold 32 MiB, trim
** threshold 256 MiB), so buffers for large messages are reused instead of
** page-faulted in afresh on every receive. Process-wide: it changes what
** every later free does, in every thread. Any thread, at any time; calling it
** again changes nothing. No pointer arguments. Results: HORUS_OK, the
** allocator took both settings; HORUS_EINVAL, it refused one (an allocator
** without mallopt's thresholds, such as musl's or a sanitizer's, or a
** ceiling below these values; the first setting may have been taken):
** nothing is wrong then, large buffers are just returned to the system.
** errno is left as it was.
*/
int horus_keep_heap(void);

/* mlockall(MCL_CURRENT|MCL_FUTURE); HORUS_ESYS with errno on refusal. */
int horus_lock_memory(void);

/* ---- Log ring ------------------------------------------------------------- */

/*
** One ring of log records per namespace, written by every process of the
** robot at once and read by `horus logs`. Appending never blocks and never
** waits for readers: when the ring is full the oldest records are
** overwritten. Each record carries a checksum, so a reader never returns one
** that two writers lapping each other could have mixed.
*/
typedef struct horus_logring horus_logring;

#define HORUS_LOG_NODE_MAX 47
#define HORUS_LOG_MSG_MAX 427
#define HORUS_LOG_DEFAULT_CAPACITY 4096u

typedef struct horus_log_record {
  uint64_t seq;
  uint64_t time_ns; /* CLOCK_REALTIME, for humans and --since */
  uint64_t tick;
  uint32_t pid;
  uint8_t level;     /* 10 debug, 20 info, 30 warning, 40 error */
  uint8_t truncated; /* the message was longer than HORUS_LOG_MSG_MAX bytes */
  uint16_t msg_len;
  char node[HORUS_LOG_NODE_MAX + 1];
  char msg[HORUS_LOG_MSG_MAX + 1];
} horus_log_record;

/*
** Open the ring at path, first creating it if create is nonzero and there is
** no file. capacity (0: HORUS_LOG_DEFAULT_CAPACITY) sizes a ring this call
** creates; an existing ring keeps its own (horus_logring_capacity). Any
** thread, any process. The handle records the pid of its process at open: a
** forked child opens a ring of its own. path, out: not NULL. Results:
**   HORUS_OK: *out is the new handle.
**   HORUS_EINVAL: capacity is not a power of two (even if the ring exists).
**   HORUS_ESYS, errno set: ENOENT, no ring and create is 0; ENOMEM; or
**     open, flock, posix_fallocate (ENOSPC: /dev/shm is full) or mmap failed.
**   HORUS_ECORRUPT: the file is empty, or is the ring of a live process of
**     another version (one no process holds any more is replaced).
** On error *out is untouched and err (if not NULL) says what failed.
*/
int horus_logring_open(const char *path, uint32_t capacity, int create, horus_logring **out, char *err);
/* Unmap and close; the ring itself stays for the other processes. NULL is a no-op. */
void horus_logring_close(horus_logring *r);

/*
** Append one record; cannot fail, never blocks. r: not NULL. level: any byte
** (horus.observability.log's are 10 to 40). node: a NUL-terminated string, not NULL (cut to
** HORUS_LOG_NODE_MAX bytes). msg: len bytes, any bytes, NULL only when len is
** 0; a message longer than HORUS_LOG_MSG_MAX is cut and marked truncated.
** The record can still be lost: when a writer a whole lap ahead takes the
** slot first, this record is the one overwritten (readers count it as
** missed). Any thread, any process, several threads on one handle at once.
*/
void horus_logring_append(horus_logring *r, uint8_t level, const char *node, uint64_t tick, const char *msg,
                          size_t len);

/*
** The name a level is shown with on stderr: "DEBUG", "INFO", "WARNING" or
** "ERROR" (static strings) for 10, 20, 30, 40; NULL for any other level
** (show its number). Pure; any thread.
*/
const char *horus_log_level_name(long level);

/*
** Write one record to fd as the line "[LEVEL] node: message\n" (LEVEL from
** horus_log_level_name, else the number), with writev(2): one system call
** for the whole line unless the kernel takes part of it. node holds node_len
** bytes and msg len bytes, any bytes (NULs included); either may be NULL when
** its length is 0. Retries EINTR and short writes; may block as long as fd
** does. Results: HORUS_OK, the whole line was written; HORUS_ESYS with errno
** from write(2) (EBADF, EPIPE, EAGAIN on a non-blocking fd, ...), or EIO when
** fd took no bytes of a non-empty write; the rest of the line is dropped.
** Any thread; lines written by one call each are never interleaved on a pipe
** (up to PIPE_BUF bytes).
*/
int horus_log_write_line(int fd, long level, const char *node, size_t node_len, const char *msg, size_t len);

/*
** Records ever appended (the sequence number of the next one), as it was at
** some moment during the call: other processes append at any time.
** r: not NULL; cannot fail.
*/
uint64_t horus_logring_head(const horus_logring *r);
/* Records the ring holds (a power of two), as checked at open. r: not NULL; cannot fail. */
uint32_t horus_logring_capacity(const horus_logring *r);

/*
** Read the record numbered *next into *out. r, next, missed, out: not NULL.
** First, records at *next that were overwritten before they were read, or
** whose checksum fails (two writers a lap apart mixed them), are skipped:
** *next moves past them and their number is added to *missed (which the
** caller zeroes or keeps counting in). Then:
**   HORUS_OK: *out holds the record (out->seq is its number; *out's strings
**     are NUL-terminated) and *next is past it.
**   HORUS_EMPTY: nothing has been appended at *next yet (a head below *next,
**     which only a truncated or rewritten ring has, first moves *next back to
**     it; a head at or above 2^62 is corrupt and reads as nothing), or
**     capacity + 2 records were skipped in this call (call again).
**   HORUS_ERETRY: the record at *next is still being written (or its writer
**     died mid-write): call again later, or give up on it by incrementing
**     *next (and counting it as missed).
** *out is written only on HORUS_OK. Never blocks. Any thread, any process,
** many readers at once, each with its own next and missed.
*/
int horus_logring_read(const horus_logring *r, uint64_t *next, uint64_t *missed, horus_log_record *out);

/* ---- Stats registry --------------------------------------------------------- */

/*
** One file per scheduler, in which its thread publishes the state of each of
** its nodes after every tick; `horus monitor` reads them all. Single writer
** (the scheduler thread) per file; readers in any process, never blocking it.
*/
typedef struct horus_stats horus_stats;

#define HORUS_STATS_MAX_NODES 64u
#define HORUS_STATS_NAME_MAX 47

/* A node's state (horus_node_stats.state): horus/observability/registry.py names them in this order. */
enum horus_state {
  HORUS_STATE_CREATED,
  HORUS_STATE_INITIALIZING,
  HORUS_STATE_RUNNING,
  HORUS_STATE_SUSPENDED,
  HORUS_STATE_RESTARTING,
  HORUS_STATE_FAILED,
  HORUS_STATE_STOPPED,
  HORUS_STATE_COUNT
};

/* A node's health (horus_node_stats.health), likewise. */
enum horus_health {
  HORUS_HEALTH_STARTING,
  HORUS_HEALTH_HEALTHY,
  HORUS_HEALTH_WARNING,
  HORUS_HEALTH_UNHEALTHY,
  HORUS_HEALTH_FAILED,
  HORUS_HEALTH_STOPPED,
  HORUS_HEALTH_COUNT
};

/*
** One node's record in a registry: part of the registry file's format (the
** layout in stats.c), so its size and offsets are pinned below. Only the
** scheduler thread writes a record, under [SEQLOCK] (hatomic.h); readers
** copy it whole with horus_stats_read. Native byte order: the file never
** leaves its machine.
*/
typedef struct horus_node_stats {
  char name[HORUS_STATS_NAME_MAX + 1]; /* NUL-padded */
  uint32_t state;  /* enum horus_state */
  uint32_t health; /* enum horus_health */
  uint64_t total_ticks;
  uint64_t errors;
  uint64_t deadline_misses;
  uint64_t budget_overruns;
  uint64_t last_tick_ns;
  uint64_t avg_tick_ns;
  uint64_t max_tick_ns;
  uint64_t updated_ns; /* CLOCK_MONOTONIC of the last update */
  double rate_hz;
  double actual_rate_hz;
} horus_node_stats;

/* WARNING: these hold the format fixed; changing a field means bumping HORUS_STATS_VERSION (stats.c). */
_Static_assert(sizeof(horus_node_stats) == 136, "stats v1: a node record is 136 bytes");
_Static_assert(_Alignof(horus_node_stats) == 8, "stats v1: node records are 8-byte aligned");
_Static_assert(offsetof(horus_node_stats, name) == 0, "stats v1: name at 0");
_Static_assert(offsetof(horus_node_stats, state) == 48, "stats v1: state at 48");
_Static_assert(offsetof(horus_node_stats, health) == 52, "stats v1: health at 52");
_Static_assert(offsetof(horus_node_stats, total_ticks) == 56, "stats v1: total_ticks at 56");
_Static_assert(offsetof(horus_node_stats, errors) == 64, "stats v1: errors at 64");
_Static_assert(offsetof(horus_node_stats, deadline_misses) == 72, "stats v1: deadline_misses at 72");
_Static_assert(offsetof(horus_node_stats, budget_overruns) == 80, "stats v1: budget_overruns at 80");
_Static_assert(offsetof(horus_node_stats, last_tick_ns) == 88, "stats v1: last_tick_ns at 88");
_Static_assert(offsetof(horus_node_stats, avg_tick_ns) == 96, "stats v1: avg_tick_ns at 96");
_Static_assert(offsetof(horus_node_stats, max_tick_ns) == 104, "stats v1: max_tick_ns at 104");
_Static_assert(offsetof(horus_node_stats, updated_ns) == 112, "stats v1: updated_ns at 112");
_Static_assert(offsetof(horus_node_stats, rate_hz) == 120, "stats v1: rate_hz at 120");
_Static_assert(offsetof(horus_node_stats, actual_rate_hz) == 128, "stats v1: actual_rate_hz at 128");

/*
** Create the registry file at path for `nodes` records (0 to
** HORUS_STATS_MAX_NODES), every record zero, and open it as its writer. path
** must be this process's own (horus/observability/registry.py names it after the pid): a
** file already there is taken for a dead namesake's and replaced. scheduler:
** a NUL-terminated name, cut to HORUS_STATS_NAME_MAX bytes. pid: stored for
** readers (horus_stats_pid), normally getpid(). path, scheduler, out: not
** NULL. Any thread. Results:
**   HORUS_OK: *out is the new handle.
**   HORUS_EINVAL: nodes > HORUS_STATS_MAX_NODES.
**   HORUS_ESYS, errno set: the old file cannot be removed; ENOMEM; or open,
**     flock, posix_fallocate (ENOSPC: /dev/shm is full) or mmap failed.
**   HORUS_ECORRUPT: only if another process put a different file at path
**     at the same moment.
** On error *out is untouched and err (if not NULL) says what failed.
*/
int horus_stats_create(const char *path, const char *scheduler, uint32_t pid, uint32_t nodes, horus_stats **out,
                       char *err);
/*
** Attach an existing registry for reading. A registry is never seen half
** made (it appears under its name complete), and it outlives its process
** until removed: horus_stats_pid says whose it is. path, out: not NULL. Any
** thread, any process. Results:
**   HORUS_OK: *out is the new handle.
**   HORUS_ESYS, errno set: ENOENT, no such registry; ENOMEM; or open, flock
**     or mmap failed.
**   HORUS_ECORRUPT: the file is not a registry of this version (empty, wrong
**     magic, version or record size, more than HORUS_STATS_MAX_NODES
**     records, or a record count that does not match its size).
** On error *out is untouched and err (if not NULL) says what failed.
*/
int horus_stats_attach(const char *path, horus_stats **out, char *err);
/* Unmap and close; the file stays (its creator removes it). NULL is a no-op. */
void horus_stats_close(horus_stats *s);

/*
** Publish node i's stats ([SEQLOCK] writer); cannot fail, never blocks.
** i >= horus_stats_nodes(s) is ignored. s: the handle horus_stats_create
** returned; v: not NULL. Only one thread per registry ever writes (this or
** horus_stats_publish): a second writer would let readers take torn records
** for whole ones.
*/
void horus_stats_update(horus_stats *s, uint32_t i, const horus_node_stats *v);

/*
** The header's node count, pid and scheduler name (NUL-terminated, at most
** HORUS_STATS_NAME_MAX bytes, valid until horus_stats_close), as checked at
** open. s: not NULL; cannot fail.
*/
uint32_t horus_stats_nodes(const horus_stats *s);
uint32_t horus_stats_pid(const horus_stats *s);
const char *horus_stats_scheduler(const horus_stats *s);
/*
** Copy node i's latest consistent stats into *out; cannot fail. s, out: not
** NULL. While the record is being written it retries, yielding the CPU after
** a short spin (the writer may be preempted mid-update); a record still
** mid-update after 100 ms belongs to a writer that died there and is copied
** as it is (torn, if its writer was only preempted that long). Zeroes for
** i >= horus_stats_nodes(s). out->name is always NUL-terminated. Any
** thread, any process, many readers at once; never delays the writer.
*/
void horus_stats_read(const horus_stats *s, uint32_t i, horus_node_stats *out);

/* ---- Tick statistics ---------------------------------------------------------- */

/*
** One node's running totals, in the memory of its scheduler's process (the
** registry record above is what other processes see of them). Plain fields:
** one thread updates them, and readers on other threads of the process must
** be serialised with it by the caller (the Python module: the GIL, held
** through each call). Times are CLOCK_MONOTONIC nanoseconds, signed so that
** differences of arbitrary stamps stay meaningful.
*/
typedef struct horus_tick_stats {
  uint64_t total_ticks;
  uint64_t successful_ticks;
  uint64_t failed_ticks;
  uint64_t errors;
  uint64_t consecutive_failures; /* errors since the last successful tick */
  uint64_t deadline_misses;
  uint64_t budget_overruns;
  uint64_t watchdog_expirations;
  uint64_t restarts;
  int64_t sum_ns, min_ns, max_ns, last_ns; /* tick durations */
  int64_t last_start_ns;                   /* start of the latest tick; 0 before the first */
  int64_t last_miss_ns;                    /* end of the latest deadline miss */
  double rate_ewma;                        /* achieved ticks per second (HORUS_RATE_ALPHA) */
  uint32_t state;                          /* enum horus_state */
} horus_tick_stats;

/* A deadline miss less than this long ago makes a running node's health HORUS_HEALTH_WARNING. */
#define HORUS_RECENT_MISS_NS 5000000000LL
/* Weight of the newest tick interval in the achieved-rate average. */
#define HORUS_RATE_ALPHA 0.05

/* What happened in one tick, for horus_tick_record: OR of these. */
#define HORUS_TICK_OK 1u          /* it returned (else it raised) */
#define HORUS_TICK_MISSED 2u      /* it ended past its deadline */
#define HORUS_TICK_OVER_BUDGET 4u /* it ran longer than its budget */
#define HORUS_TICK_WATCHDOG 8u    /* it ran past the watchdog */

/* Tick statistics live in the caller's memory: t is never NULL, and none of these can fail. */

/* Zero every total, state HORUS_STATE_CREATED, no deadline miss yet. */
void horus_tick_init(horus_tick_stats *t);

/* Fold in one tick that ran from start_ns to end_ns; flags: HORUS_TICK_*. */
void horus_tick_record(horus_tick_stats *t, int64_t start_ns, int64_t end_ns, unsigned flags);

/* Count one error (a tick or init that raised). */
void horus_tick_error(horus_tick_stats *t);

/* The node's health at now_ns (enum horus_health), from its state, failures and deadline misses. */
uint32_t horus_tick_health(const horus_tick_stats *t, int64_t now_ns);

/*
** Publish t as node i's record of registry s, named `name` (NUL-terminated,
** not NULL; cut to HORUS_STATS_NAME_MAX bytes), configured at rate_hz, its
** health taken at now_ns, which also stamps the record. Cannot fail; i out
** of range is ignored. s: a handle from horus_stats_create, written by one
** thread only, as for horus_stats_update.
*/
void horus_stats_publish(horus_stats *s, uint32_t i, const char *name, double rate_hz, const horus_tick_stats *t,
                         int64_t now_ns);

/* ---- journald's native protocol ------------------------------------------------ */

/*
** One log record as journald stores it: an entry with the fields MESSAGE,
** PRIORITY, SYSLOG_IDENTIFIER, HORUS_NODE, HORUS_TICK, HORUS_PID and, when
** code_file is not NULL, CODE_FILE, CODE_LINE and CODE_FUNC. Strings are
** (pointer, length) pairs of any bytes, newlines and NULs included.
*/
typedef struct horus_journal_record {
  long level; /* horus.observability.log's: >= 40 -> PRIORITY 3, >= 30 -> 4, >= 20 -> 6, else 7 */
  uint64_t tick;
  int64_t pid;
  const char *message, *identifier, *node;
  size_t message_len, identifier_len, node_len;
  const char *code_file, *code_func; /* code_file NULL: no CODE_* fields */
  size_t code_file_len, code_func_len;
  int64_t code_line;
} horus_journal_record;

/* The syslog priority digit journald filters on (`journalctl -p`) for a horus.observability.log level. */
char horus_journal_priority(long level);

/*
** Encode rec as one datagram of journald's native protocol (systemd's
** sd_journal_sendv): per field "KEY=value\n", or, for a value containing a
** newline, "KEY\n" + its length as a little-endian u64 + value + "\n".
** Writes at most cap bytes to buf (NULL if cap is 0) and returns the
** datagram's full length: a result above cap means buf holds no complete
** datagram; call again with that many bytes. Pure; any thread.
*/
size_t horus_journal_encode(char *buf, size_t cap, const horus_journal_record *rec);

/*
** Send rec as one datagram on fd (an AF_UNIX SOCK_DGRAM socket) to the socket
** at path (path_len bytes, no NUL needed; a leading NUL names an abstract
** socket), without blocking even if fd is a blocking socket. Retries EINTR.
** fd is connected to path on first use, and again when its peer is gone
** (ECONNREFUSED: the socket at path was replaced): use one fd for one path.
** HORUS_OK: journald's queue took it. HORUS_ESYS with errno: EAGAIN, the
** queue is full; EMSGSIZE or ENOBUFS, too large for a datagram (journald's
** answer: the same bytes in a sealed memfd, which is the caller's to send);
** ENAMETOOLONG, path does not fit a sockaddr_un; ENOMEM; or sendto(2)'s
** other errors (ENOENT, ECONNREFUSED: journald is not there). Any thread;
** datagrams are never interleaved.
*/
int horus_journal_send(int fd, const char *path, size_t path_len, const horus_journal_record *rec);

#endif /* HORUS_H */
