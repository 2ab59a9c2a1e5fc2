/* A compiled node that holds updates while it runs: prints "held <path>", then waits for a line on
   stdin; "release" ends the hold and exits, EOF (or a kill) leaves it to the kernel. */
#include <stdio.h>
#include <string.h>

#include "horus_node.h"

int main(void) {
  char err[HORUS_ERRLEN];
  horus_hold outer, inner;
  if (horus_update_hold(&outer, NULL, "docking \"bay\" 3\n", err) != HORUS_OK ||
      horus_update_hold(&inner, NULL, "lifting", err) != HORUS_OK) {
    fprintf(stderr, "hold: %s\n", err);
    return 1;
  }
  printf("held %s\n", outer.path);
  fflush(stdout);
  char line[64];
  if (fgets(line, sizeof line, stdin) && strncmp(line, "release", 7) == 0) {
    horus_update_release(&inner);
    horus_update_release(&outer);
    printf("released\n");
  }
  return 0;
}
