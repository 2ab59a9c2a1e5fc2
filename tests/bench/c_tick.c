/*
** c_tick.c: a compiled node ticking at 1 kHz (horus_node.h), for runtime.py's jitter next to the
** Python node's: each tick polls a typed topic as a motor controller would, counts the tick in the
** stats registry, and prints its start time (ns); argv[1] ticks in all.
*/
#include <stdio.h>
#include <stdlib.h>

#include "horus_msgs.h"
#include "horus_node.h"

int main(int argc, char **argv) {
  char err[HORUS_ERRLEN];
  long ticks = argc > 1 ? atol(argv[1]) : 1000;
  horus_node node;
  horus_msg_topic cmd;
  if (horus_node_open(&node, NULL, "c_motor", 1000.0, err) != HORUS_OK ||
      horus_msg_topic_open(NULL, "cmd_vel", HORUS_MSG_CMD_VEL, &cmd, err) != HORUS_OK) {
    fprintf(stderr, "c_tick: %s\n", err);
    return 1;
  }
  uint64_t *stamps = calloc((size_t)ticks, sizeof *stamps);
  if (!stamps) return 1;
  horus_msg_cmd_vel latest = {0};
  uint64_t next = horus_now_ns();
  for (long i = 0; i < ticks; i++) {
    next += 1000000u;
    horus_sleep_until(next);
    uint64_t start = horus_now_ns();
    stamps[i] = start;
    while (horus_msg_recv(&cmd, &latest, 0, err) == HORUS_OK) {
    }
    horus_node_tick(&node, (int64_t)start, (int64_t)horus_now_ns(), HORUS_TICK_OK);
  }
  for (long i = 0; i < ticks; i++) printf("%llu\n", (unsigned long long)stamps[i]);
  free(stamps);
  horus_msg_topic_close(&cmd);
  horus_node_close(&node);
  return 0;
}
