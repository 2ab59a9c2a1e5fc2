/*
** safety.c: the demo's safety monitor as a compiled node, the C version of nodes/safety.py.
**
** At 200 Hz it reads the motor controller's status (motor.status) and publishes an
** EmergencyStop on safety.state: not engaged while the wheels are within 5 % of their limit
** and the status is fresh, engaged with the reason otherwise (the motor stops on that, and on
** silence). Nothing moves before the first status (the motor starts stopped), so none is
** needed to say "not engaged". A new reason is logged as a warning.
*/
#include "demo.h"

#define RATE_HZ 200.0
#define STATUS_TIMEOUT_NS 100000000ull /* motor.status older than this: the controller is stuck */
#define DEADLINE_NS 5000000ull

typedef struct safety {
  horus_msg_topic status, safety;
  horus_msg_differential_drive_command last;
  int seen;
  uint64_t seen_ns;
  char reason[sizeof(((horus_msg_emergency_stop *)0)->reason)];
} safety;

static double magnitude(double v) { return v < 0 ? -v : v; }

/* nodes/safety.py assess(): "" when safe, else why (at most sizeof reason - 1 bytes). */
static void assess(const safety *s, uint64_t now, char *reason, size_t cap) {
  reason[0] = '\0';
  if (!s->seen) return;
  if (now - s->seen_ns > STATUS_TIMEOUT_NS) {
    snprintf(reason, cap, "motor.status is %.0f ms old", (double)(now - s->seen_ns) / 1e6);
    return;
  }
  double left = magnitude(s->last.left_velocity), right = magnitude(s->last.right_velocity);
  double fastest = isnan(left) || left > right ? left : right; /* NaN wins: it cannot be judged safe */
  if (!(fastest <= MAX_WHEEL * 1.05))
    snprintf(reason, cap, "wheel speed %.2f m/s over the %g m/s limit", fastest, MAX_WHEEL);
}

static int safety_init(horus_node *node, void *state, char *err) {
  safety *s = state;
  if (cnode_open(TOPIC_MOTOR_STATUS, HORUS_MSG_DIFFERENTIAL_DRIVE_COMMAND, &s->status, err) != 0 ||
      cnode_open(TOPIC_SAFETY, HORUS_MSG_EMERGENCY_STOP, &s->safety, err) != 0)
    return -1;
  horus_node_log(node, 20, "safety monitor at 200 Hz (compiled)");
  return 0;
}

static int safety_tick(horus_node *node, void *state, uint64_t now, char *err) {
  safety *s = state;
  int rc;
  while ((rc = horus_msg_recv(&s->status, &s->last, 0, err)) == HORUS_OK) {
    s->seen = 1;
    s->seen_ns = now;
  }
  if (rc != HORUS_EMPTY) return -1;
  horus_msg_emergency_stop out;
  memset(&out, 0, sizeof out); /* padding and the strings' tails too: what travels is deterministic */
  assess(s, now, out.reason, sizeof out.reason);
  if (out.reason[0] && strcmp(out.reason, s->reason) != 0) {
    char line[sizeof out.reason + 16];
    snprintf(line, sizeof line, "E-STOP: %s", out.reason);
    horus_node_log(node, 30, line);
  }
  memcpy(s->reason, out.reason, sizeof s->reason);
  out.engaged = out.reason[0] != '\0';
  out.timestamp_ns = now;
  snprintf(out.source, sizeof out.source, "safety");
  return horus_msg_publish(&s->safety, &out, err) == HORUS_OK ? 0 : -1;
}

static void safety_shutdown(horus_node *node, void *state) {
  safety *s = state;
  (void)node;
  horus_msg_topic_close(&s->status);
  horus_msg_topic_close(&s->safety);
}

int main(void) {
  static safety s;
  const cnode_spec spec = {"safety", RATE_HZ, DEADLINE_NS, 0, safety_init, safety_tick, safety_shutdown};
  return cnode_run(&spec, &s);
}
