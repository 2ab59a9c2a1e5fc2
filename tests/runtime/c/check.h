/*
** check.h: the assertion of the sanitizer test programs. A failed CHECK is
** reported with its line and counted, and the test goes on, so that one run
** shows every failure; main() exits non-zero if `failures` is not 0.
*/
#ifndef HORUS_TEST_CHECK_H
#define HORUS_TEST_CHECK_H

#include <stdio.h>

static int failures;

#define CHECK(cond)                                                                                                    \
  do {                                                                                                                 \
    if (!(cond)) {                                                                                                     \
      fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond);                                                       \
      failures++;                                                                                                      \
    }                                                                                                                  \
  } while (0)

#endif
