/*
** motor.c: a 1 kHz motor controller for test_shm_hostile.py, built as teams build theirs
** (horus_node.h): it receives CmdVel on "cmd_vel", ticks as node "motor" (the stats registry)
** and logs every 100 ticks (the log ring). It prints "ready", then the timestamp_ns of each
** command it receives, and runs until killed.
*/
#include <stdio.h>

#include "horus_msgs.h"
#include "horus_node.h"

int main(void) {
  char err[HORUS_ERRLEN];
  horus_node n;
  horus_msg_topic t;
  if (horus_node_open(&n, NULL, "motor", 1000.0, err) != HORUS_OK ||
      horus_msg_topic_open(NULL, "cmd_vel", HORUS_MSG_CMD_VEL, &t, err) != HORUS_OK) {
    fprintf(stderr, "open: %s\n", err);
    return 1;
  }
  printf("ready\n");
  fflush(stdout);
  uint64_t next = horus_now_ns();
  for (uint64_t tick = 0;; tick++) {
    next += 1000000u;
    horus_sleep_until(next);
    int64_t start = (int64_t)horus_now_ns();
    horus_msg_cmd_vel cmd;
    if (horus_msg_recv(&t, &cmd, 0, err) == HORUS_OK) {
      printf("%llu\n", (unsigned long long)cmd.timestamp_ns);
      fflush(stdout);
    }
    if (tick % 100 == 0) horus_node_log(&n, 20, "motor ok");
    horus_node_tick(&n, start, (int64_t)horus_now_ns(), HORUS_TICK_OK);
  }
}
