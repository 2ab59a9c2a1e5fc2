/*
** horus_node.h: typed topics for compiled HORUS nodes, on the same topics as Python nodes.
**
** A C node publishes and receives the structs of horus_msgs.h (or of a header that
** horus.msggen wrote) exactly as Python's horus.Topic(horus.CmdVel) does: each message
** travels framed as Python's codec frames a typed message,
**
**     offset 0   'M' (0x4D)
**     offset 1   u32 type id      (HORUS_MSG_*_TYPE_ID), little-endian
**     offset 5   u64 layout hash  (HORUS_MSG_*_LAYOUT_HASH), little-endian
**     offset 13  the struct, sizeof bytes
**
** so neither side can tell the other's language. A receiver refuses a message of another
** type or layout (HORUS_EMSGTYPE) instead of misreading it. Topics live where Python's do:
** /dev/shm/horus.<namespace>/topics/<name, with bytes outside [A-Za-z0-9_.-] as %XX>.
**
** Build: zig cc (or any C11 compiler) with -I horus_core/csrc -I horus_core/capi, and
** node.c with the core's segment.c, topic.c, timing.c, stats.c, logring.c and journal.c.
** Little-endian targets only (x86_64 and aarch64, every robot CPU HORUS builds for).
*/
#ifndef HORUS_NODE_H
#define HORUS_NODE_H

#include <stddef.h>
#include <stdint.h>

#include "horus.h"

/* The next message on the topic is not of this handle's type and layout; it is consumed. */
#define HORUS_EMSGTYPE (-9)

/* Bytes before the struct in a framed typed message. */
#define HORUS_MSG_HEADER 13u

/*
** One typed topic: a subscriber position on it and, once something is published, its
** publisher claim. Fields are private to node.c; the struct is public so it can live on
** the stack or in a node's state. One thread at a time per handle.
*/
typedef struct horus_msg_topic {
  horus_topic *topic;
  horus_cursor cursor;
  uint32_t type_id;
  uint64_t layout_hash;
  uint32_t size;       /* sizeof the struct */
  uint8_t *scratch;    /* one framed message, allocated once at open: receiving never allocates */
  int claimed;
} horus_msg_topic;

/*
** Open topic `name` of namespace `ns` (NULL: $HORUS_NAMESPACE, else "default"; 1-64 of
** [A-Za-z0-9_.-] not starting with '.' or '-', as Python's, else HORUS_EINVAL) for messages
** of one type: its TYPE_ID, LAYOUT_HASH and sizeof, which the generated header's
** HORUS_MSG_<NAME> macro gives as three arguments: horus_msg_topic_open(NULL, "cmd_vel",
** HORUS_MSG_CMD_VEL, &topic, err). Creates the namespace and the topic if they do not exist, with Python's
** defaults (64 KiB slots, 16 of them). The handle's cursor starts at the next message published.
** HORUS_OK, or a HORUS_E* code with err (HORUS_ERRLEN bytes, may be NULL) saying why.
*/
int horus_msg_topic_open(const char *ns, const char *name, uint32_t type_id, uint64_t layout_hash, uint32_t size,
                         horus_msg_topic *out, char *err);

/* Close the handle (its publisher claim with it). A zeroed or closed handle is a no-op. */
void horus_msg_topic_close(horus_msg_topic *mt);

/*
** Publish *msg (size bytes, the handle's type) to every subscriber, claiming the topic's
** publisher on first use (HORUS_EBUSY, the holder's pid in err, if another process publishes).
** Never blocks.
*/
int horus_msg_publish(horus_msg_topic *mt, const void *msg, char *err);

/*
** Receive the next message into *msg (size bytes). timeout_ns 0: do not wait (HORUS_EMPTY when
** there is none); otherwise wait up to timeout_ns (UINT64_MAX: no limit), spinning 50 us first.
** HORUS_OK: *msg holds the whole message as published. Any other result leaves *msg untouched:
** HORUS_EMPTY, HORUS_EMSGTYPE (another type or layout: err names its type id and length),
** HORUS_ESYS with errno EINTR (a signal arrived while waiting; call again).
*/
int horus_msg_recv(horus_msg_topic *mt, void *msg, uint64_t timeout_ns, char *err);

/* ---- Nodes: what `horus monitor`, `horus logs`, journald and systemd see of a C node ---- */

/*
** One compiled node: its record in the namespace's stats registry (`horus monitor` and the
** health endpoint read it, as they read Python nodes'), its log lines (the namespace's log
** ring for `horus logs`, and journald with HORUS_NODE= when stderr is the unit's journal
** stream, else stderr), and its tick statistics. One thread per node; fields are private.
*/
typedef struct horus_node {
  char name[HORUS_STATS_NAME_MAX + 1];
  double rate_hz;
  horus_tick_stats ticks;
  horus_stats *registry;
  horus_logring *log; /* NULL when the ring cannot be opened: stderr and journald still get lines */
  int journal_fd;     /* -1 unless stderr is this unit's journal stream */
  char registry_path[512];
} horus_node;

/*
** Register node `name` (cut to HORUS_STATS_NAME_MAX bytes) of namespace `ns` (NULL: as
** horus_msg_topic_open), configured at rate_hz, in state RUNNING: from now on `horus monitor`
** lists it. Its registry file is /dev/shm/horus.<ns>/stats/<pid>.c, removed by horus_node_close
** (or, after a crash, by `horus clean --shm`). HORUS_OK or a HORUS_E* code with err.
*/
int horus_node_open(horus_node *n, const char *ns, const char *name, double rate_hz, char *err);

/* Count one tick that ran from start_ns to end_ns (horus_now_ns), flags HORUS_TICK_*, and publish it. */
void horus_node_tick(horus_node *n, int64_t start_ns, int64_t end_ns, unsigned flags);

/* Set the node's state (enum horus_state) as monitor shows it; a failure also counts one error. */
void horus_node_set_state(horus_node *n, uint32_t state);

/*
** Log one line at `level` (10 debug, 20 info, 30 warning, 40 error, as horus.observability.log): to the log
** ring, and to journald (with PRIORITY, HORUS_NODE, HORUS_TICK, HORUS_PID) when stderr is the
** unit's journal stream, else to stderr as `[LEVEL] node: message`. Never blocks, never fails.
*/
void horus_node_log(horus_node *n, long level, const char *message);

/*
** Tell systemd `state` ("READY=1", "WATCHDOG=1", "STOPPING=1", ...) over $NOTIFY_SOCKET (a path
** or an @abstract name). 1 if sent, 0 when not run by a Type=notify unit, HORUS_ESYS on failure.
** Never blocks: when systemd has not read the socket's queued datagrams, HORUS_ESYS with EAGAIN.
*/
int horus_node_notify(const char *state);

/* State STOPPED, published; the registry file removed; the log ring and journal socket closed. */
void horus_node_close(horus_node *n);

/*
** Update holds (horus.UpdateHold's files): while one is held, a deploy waits at its switch instead
** of restarting this robot's nodes. The hold is the file /dev/shm/horus.<ns>/holds/<pid>.c<n>.hold
** (JSON: reason, holder, pid, since), on which this process keeps an exclusive flock: it ends
** with horus_update_release, or when the process dies, however it dies. Holds nest: each call
** adds one, each release ends its own. ns NULL: as horus_msg_topic_open.
*/
typedef struct horus_hold {
  int fd;
  char path[512];
} horus_hold;

int horus_update_hold(horus_hold *h, const char *ns, const char *reason, char *err);
void horus_update_release(horus_hold *h);

#endif /* HORUS_NODE_H */
