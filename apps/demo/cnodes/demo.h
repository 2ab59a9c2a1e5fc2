/*
** demo.h: what the demo's compiled nodes (motor.c, safety.c) share with each other and with
** their Python versions (nodes/topics.py, nodes/motor.py, nodes/safety.py): topic names, limits,
** and the loop that makes a program one HORUS node under systemd.
**
** The loop, cnode_run(), is what horus.Scheduler does for a Python node, for one node:
**   - registers the node in the namespace's stats registry (`horus monitor`, the health endpoint)
**     and its log ring and journald (`horus logs`, journalctl HORUS_NODE=);
**   - asks for SCHED_FIFO and locked memory when told to (the unit grants CAP_SYS_NICE and
**     CAP_IPC_LOCK), logging a refusal and running on without them, as the scheduler does;
**   - sends READY=1 once init has run, WATCHDOG=1 from the loop itself at half systemd's
**     interval (a hung loop is caught, not only a dead process), STOPPING=1 on SIGTERM;
**   - ticks at rate_hz on absolute deadlines, counting each tick, its misses (a tick that ends
**     past deadline_ns after its start time) and its failures;
**   - failure policy "fatal", the Python versions' own: a failed init or tick is logged as an
**     error and the process exits 1, so systemd restarts it (Restart=on-failure).
** Single-threaded; one node per process (the registry file is named by the pid).
*/
#ifndef DEMO_CNODES_H
#define DEMO_CNODES_H

/* sigaction, sched_setscheduler: POSIX, beyond C11. Before any system header. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "horus_msgs.h"
#include "horus_node.h"

/* nodes/topics.py */
#define TOPIC_CMD_VEL "cmd_vel"           /* horus_msg_cmd_vel: the planner's setpoint */
#define TOPIC_MOTOR_STATUS "motor.status" /* horus_msg_differential_drive_command: wheel speeds */
#define TOPIC_SAFETY "safety.state"       /* horus_msg_emergency_stop: engaged, and why */

/* nodes/motor.py */
#define MAX_WHEEL 1.0 /* m/s */

/* The real-time priority the Python scheduler gives the control process's loop (rt=True). */
#define RT_PRIORITY 50

#define NS_PER_S 1000000000ull

typedef struct cnode_spec {
  const char *name;
  double rate_hz;
  uint64_t deadline_ns; /* a tick ending later than this after its start time is a miss */
  int realtime;
  /* Each returns 0, or -1 after writing why into err (HORUS_ERRLEN bytes). */
  int (*init)(horus_node *node, void *state, char *err);
  int (*tick)(horus_node *node, void *state, uint64_t now_ns, char *err);
  void (*shutdown)(horus_node *node, void *state);
} cnode_spec;

static volatile sig_atomic_t cnode_stop;

static void cnode_on_signal(int sig) {
  (void)sig;
  cnode_stop = 1;
}

/* Half of systemd's watchdog interval (WATCHDOG_USEC) in ns, or 0 when this unit has none. */
static uint64_t cnode_watchdog_half_ns(void) {
  const char *usec = getenv("WATCHDOG_USEC");
  unsigned long long v = usec ? strtoull(usec, NULL, 10) : 0;
  return v * 500ull;
}

static void cnode_realtime(horus_node *node) {
  char line[160];
  struct sched_param param = {.sched_priority = RT_PRIORITY};
  if (sched_setscheduler(0, SCHED_FIFO, &param) != 0) {
    snprintf(line, sizeof line, "SCHED_FIFO priority %d refused (%s): running without it", RT_PRIORITY,
             strerror(errno));
    horus_node_log(node, 30, line);
  }
  if (horus_lock_memory() != HORUS_OK) {
    snprintf(line, sizeof line, "locking memory refused (%s): page faults may delay ticks", strerror(errno));
    horus_node_log(node, 30, line);
  }
}

static int cnode_fail(horus_node *node, const char *what, const char *err) {
  char line[HORUS_ERRLEN + 64];
  snprintf(line, sizeof line, "%s failed: %s (failure policy fatal: exiting)", what, err);
  horus_node_log(node, 40, line);
  horus_node_set_state(node, HORUS_STATE_FAILED);
  horus_node_notify("STOPPING=1");
  horus_node_close(node);
  return 1;
}

/* Run the node until SIGTERM or SIGINT: 0 then, 1 after a failure (see the top of this file). */
static int cnode_run(const cnode_spec *spec, void *state) {
  char err[HORUS_ERRLEN] = "";
  horus_node node;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = cnode_on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  if (horus_node_open(&node, NULL, spec->name, spec->rate_hz, err) != HORUS_OK) {
    fprintf(stderr, "%s: cannot register in the stats registry: %s\n", spec->name, err);
    return 1;
  }
  if (spec->realtime) cnode_realtime(&node);
  horus_timer_slack_min();
  if (spec->init(&node, state, err) != 0) return cnode_fail(&node, "init", err);
  horus_node_notify("READY=1");
  const uint64_t period = (uint64_t)(NS_PER_S / spec->rate_hz);
  const uint64_t watchdog = cnode_watchdog_half_ns();
  uint64_t next = horus_now_ns(), next_ping = next;
  while (!cnode_stop) {
    next += period;
    if (horus_sleep_until(next) != HORUS_OK) continue; /* EINTR: a signal; the loop checks it */
    uint64_t start = horus_now_ns();
    int rc = spec->tick(&node, state, start, err);
    uint64_t end = horus_now_ns();
    unsigned flags = rc == 0 ? HORUS_TICK_OK : 0;
    if (end - start > spec->deadline_ns) flags |= HORUS_TICK_MISSED;
    horus_node_tick(&node, (int64_t)start, (int64_t)end, flags);
    if (rc != 0) return cnode_fail(&node, "tick", err);
    if (watchdog && end >= next_ping) {
      horus_node_notify("WATCHDOG=1");
      next_ping = end + watchdog;
    }
    /* Ticks missed (a stall, a suspend) are skipped, not caught up in a burst; the next tick
       stays on the rate's grid, so one stall does not shift every later tick. */
    if (end > next + period) next += (end - next) / period * period;
  }
  horus_node_notify("STOPPING=1");
  if (spec->shutdown) spec->shutdown(&node, state);
  horus_node_close(&node);
  return 0;
}

/* A typed topic, opened or the reason in err: for an init. */
static int cnode_open(const char *name, uint32_t type_id, uint64_t layout_hash, uint32_t size,
                      horus_msg_topic *topic, char *err) {
  char why[HORUS_ERRLEN];
  if (horus_msg_topic_open(NULL, name, type_id, layout_hash, size, topic, why) == HORUS_OK) return 0;
  snprintf(err, HORUS_ERRLEN, "topic %s: %s", name, why);
  return -1;
}

#endif /* DEMO_CNODES_H */
