/*
** motor.c: the demo's motor controller as a compiled node, the C version of nodes/motor.py.
**
** The same rules on the same topics and messages: at 1 kHz two wheel speeds follow the
** planner's latest CmdVel (cmd_vel) through a first-order response, clamped, and go to zero
** whenever the safety monitor's EmergencyStop (safety.state) is engaged or has gone quiet for
** 200 ms (fail-safe). Every 10th tick it publishes the wheel speeds as a
** DifferentialDriveCommand on motor.status (enable = not stopped). Nothing is allocated after
** init.
*/
#include "demo.h"

#define RATE_HZ 1000.0
#define STATUS_EVERY 10                  /* publish motor.status at 100 Hz */
#define TRACK 0.3                        /* m between the wheels */
#define TAU 0.05                         /* s, wheel response */
#define SAFETY_TIMEOUT_NS 200000000ull   /* no safety.state for this long: stop */
#define DEADLINE_NS 900000ull

typedef struct motor {
  horus_msg_topic cmd_vel, safety, status;
  double wheel[2], setpoint[2];
  uint64_t ticks, safety_seen_ns;
  int safety_ok;
} motor;

/* A command from shared memory is hostile until checked: NaN or infinite means stop. */
static double clamp(double v) {
  if (!isfinite(v)) return 0.0;
  return v > MAX_WHEEL ? MAX_WHEEL : v < -MAX_WHEEL ? -MAX_WHEEL : v;
}

static int motor_init(horus_node *node, void *state, char *err) {
  motor *m = state;
  if (cnode_open(TOPIC_CMD_VEL, HORUS_MSG_CMD_VEL, &m->cmd_vel, err) != 0 ||
      cnode_open(TOPIC_SAFETY, HORUS_MSG_EMERGENCY_STOP, &m->safety, err) != 0 ||
      cnode_open(TOPIC_MOTOR_STATUS, HORUS_MSG_DIFFERENTIAL_DRIVE_COMMAND, &m->status, err) != 0)
    return -1;
  horus_node_log(node, 20, "motor controller at 1000 Hz (compiled)");
  return 0;
}

static int motor_tick(horus_node *node, void *state, uint64_t now, char *err) {
  (void)node;
  motor *m = state;
  horus_msg_emergency_stop stop;
  horus_msg_cmd_vel cmd;
  int rc;
  while ((rc = horus_msg_recv(&m->safety, &stop, 0, err)) == HORUS_OK) {
    m->safety_ok = !stop.engaged;
    m->safety_seen_ns = now;
  }
  if (rc != HORUS_EMPTY) return -1;
  while ((rc = horus_msg_recv(&m->cmd_vel, &cmd, 0, err)) == HORUS_OK) {
    m->setpoint[0] = clamp(cmd.linear - cmd.angular * TRACK / 2);
    m->setpoint[1] = clamp(cmd.linear + cmd.angular * TRACK / 2);
  }
  if (rc != HORUS_EMPTY) return -1;
  int stopped = !m->safety_ok || now - m->safety_seen_ns > SAFETY_TIMEOUT_NS;
  const double alpha = (1.0 / RATE_HZ) / TAU;
  for (int i = 0; i < 2; i++) m->wheel[i] += alpha * ((stopped ? 0.0 : m->setpoint[i]) - m->wheel[i]);
  if (++m->ticks % STATUS_EVERY) return 0;
  horus_msg_differential_drive_command status;
  memset(&status, 0, sizeof status); /* padding too: what travels is deterministic */
  status.left_velocity = m->wheel[0];
  status.right_velocity = m->wheel[1];
  status.max_acceleration = MAX_WHEEL / TAU;
  status.enable = !stopped;
  status.timestamp_ns = now;
  return horus_msg_publish(&m->status, &status, err) == HORUS_OK ? 0 : -1;
}

static void motor_shutdown(horus_node *node, void *state) {
  motor *m = state;
  m->wheel[0] = m->wheel[1] = 0.0;
  horus_node_log(node, 20, "motor controller stopped, wheels at zero");
  horus_msg_topic_close(&m->cmd_vel);
  horus_msg_topic_close(&m->safety);
  horus_msg_topic_close(&m->status);
}

int main(void) {
  static motor m;
  const cnode_spec spec = {"motor", RATE_HZ, DEADLINE_NS, 1, motor_init, motor_tick, motor_shutdown};
  return cnode_run(&spec, &m);
}
