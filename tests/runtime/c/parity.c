/*
** parity.c: every message of horus_msgs.h across processes, for test_c_node.py. For each, in
** HORUS_MSGS_EACH order: open "parity.<Name>" and "parity.<Name>.back", print "ready <Name>",
** receive one message of that type (10 s at most) and publish it back as received. Prints
** "done" after the last; exits 1 at the first failure, saying which message and why.
*/
#include <stdio.h>

#include "horus_msgs.h"
#include "horus_node.h"

static int echo(const char *name, uint32_t type_id, uint64_t layout_hash, uint32_t size) {
  static unsigned char msg[1u << 16];
  char err[HORUS_ERRLEN] = "", in_name[96], back_name[96];
  horus_msg_topic in, back;
  snprintf(in_name, sizeof in_name, "parity.%s", name);
  snprintf(back_name, sizeof back_name, "parity.%s.back", name);
  int rc = size > sizeof msg ? HORUS_EINVAL : horus_msg_topic_open(NULL, in_name, type_id, layout_hash, size, &in, err);
  if (rc == HORUS_OK) {
    rc = horus_msg_topic_open(NULL, back_name, type_id, layout_hash, size, &back, err);
    if (rc == HORUS_OK) {
      printf("ready %s\n", name);
      fflush(stdout);
      rc = horus_msg_recv(&in, msg, 10ull * 1000000000ull, err);
      if (rc == HORUS_OK) rc = horus_msg_publish(&back, msg, err);
      horus_msg_topic_close(&back);
    }
    horus_msg_topic_close(&in);
  }
  if (rc != HORUS_OK) fprintf(stderr, "parity %s (%u bytes): error %d %s\n", name, size, rc, err);
  return rc != HORUS_OK;
}

#define ECHO(name, type, ...) \
  if (echo(#name, __VA_ARGS__)) return 1;

int main(void) {
  HORUS_MSGS_EACH(ECHO)
  printf("done\n");
  return 0;
}
