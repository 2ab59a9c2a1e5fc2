/*
** typed_node.c: a compiled node on Python's typed topics (horus_node.h), for test_c_node.py.
**   typed_node pub   publish CmdVel(1.5, 0.25, 77) on "cmd_vel" once stdin says go
**   typed_node sub   receive on "imu": print an Imu, then the refusal of whatever comes next
**   typed_node node  register node "c_motor" (100 Hz), log a line, tick 20 times, stop when stdin says so
*/
#include <stdio.h>
#include <string.h>

#include "horus_msgs.h"
#include "horus_node.h"

static int publish(void) {
  char err[HORUS_ERRLEN];
  horus_msg_topic t;
  if (horus_msg_topic_open(NULL, "cmd_vel", HORUS_MSG_CMD_VEL, &t, err) != HORUS_OK) {
    fprintf(stderr, "open: %s\n", err);
    return 1;
  }
  printf("ready\n");
  fflush(stdout);
  char line[16];
  if (!fgets(line, sizeof line, stdin)) return 1;
  horus_msg_cmd_vel cmd = {.linear = 1.5f, .angular = 0.25f, .timestamp_ns = 77};
  int rc = horus_msg_publish(&t, &cmd, err);
  printf(rc == HORUS_OK ? "done\n" : "publish: %s\n", err);
  horus_msg_topic_close(&t);
  return rc != HORUS_OK;
}

static int subscribe(void) {
  char err[HORUS_ERRLEN];
  horus_msg_topic t;
  if (horus_msg_topic_open(NULL, "imu", HORUS_MSG_IMU, &t, err) != HORUS_OK) {
    fprintf(stderr, "open: %s\n", err);
    return 1;
  }
  printf("ready\n");
  fflush(stdout);
  horus_msg_imu imu;
  memset(&imu, 0, sizeof imu);
  int rc = horus_msg_recv(&t, &imu, 10ull * 1000000000ull, err);
  printf("imu %d %.2f %.2f %llu\n", rc, imu.accel_z, imu.gyro_x, (unsigned long long)imu.timestamp_ns);
  rc = horus_msg_recv(&t, &imu, 10ull * 1000000000ull, err);
  printf("next %d %s\n", rc, rc == HORUS_EMSGTYPE ? err : "");
  printf("kept %.2f\n", imu.accel_z);
  horus_msg_topic_close(&t);
  return 0;
}

static int node(void) {
  char err[HORUS_ERRLEN];
  horus_node n;
  if (horus_node_open(&n, NULL, "c_motor", 100.0, err) != HORUS_OK) {
    fprintf(stderr, "node: %s\n", err);
    return 1;
  }
  horus_node_log(&n, 30, "motor driver warming up");
  uint64_t next = horus_now_ns();
  for (int i = 0; i < 20; i++) {
    next += 10000000u;
    horus_sleep_until(next);
    int64_t start = (int64_t)horus_now_ns();
    horus_node_tick(&n, start, (int64_t)horus_now_ns(), HORUS_TICK_OK);
  }
  printf("ticked %d\n", horus_node_notify("READY=1"));
  fflush(stdout);
  char line[16];
  if (!fgets(line, sizeof line, stdin)) return 1;
  horus_node_close(&n);
  printf("closed\n");
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "node") == 0) return node();
  if (argc == 2 && strcmp(argv[1], "pub") == 0) return publish();
  if (argc == 2 && strcmp(argv[1], "sub") == 0) return subscribe();
  fprintf(stderr, "usage: typed_node pub|sub\n");
  return 2;
}
