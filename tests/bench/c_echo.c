/*
** c_echo.c: a compiled node echoing horus_msg_pose3d from "bench.ping" to "bench.pong", for
** runtime.py's C-to-Python typed latency. Exits on a Pose3D whose timestamp_ns is 0.
*/
#include <stdio.h>

#include "horus_msgs.h"
#include "horus_node.h"

int main(void) {
  char err[HORUS_ERRLEN];
  horus_msg_topic ping, pong;
  if (horus_msg_topic_open(NULL, "bench.ping", HORUS_MSG_POSE3D, &ping, err) != HORUS_OK ||
      horus_msg_topic_open(NULL, "bench.pong", HORUS_MSG_POSE3D, &pong, err) != HORUS_OK) {
    fprintf(stderr, "c_echo: %s\n", err);
    return 1;
  }
  printf("ready\n");
  fflush(stdout);
  horus_msg_pose3d pose;
  for (;;) {
    int rc = horus_msg_recv(&ping, &pose, 10ull * 1000000000ull, err);
    if (rc != HORUS_OK || pose.timestamp_ns == 0) break;
    if (horus_msg_publish(&pong, &pose, err) != HORUS_OK) {
      fprintf(stderr, "c_echo: %s\n", err);
      return 1;
    }
  }
  horus_msg_topic_close(&ping);
  horus_msg_topic_close(&pong);
  return 0;
}
