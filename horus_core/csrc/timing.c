/*
** timing.c: absolute-deadline sleeps and the real-time knobs.
**
** A periodic loop that sleeps "period minus work" drifts by every late wake-up;
** sleeping until an absolute CLOCK_MONOTONIC deadline does not. The default
** 50 us timer slack of a normal thread would add that much jitter to every
** wake-up, so schedulers lower it first.
**
** Receiving a large message allocates a buffer of its size. glibc serves
** that from a fresh mmap and unmaps it on free, so every receive of a 1 MiB
** frame would page-fault 256 fresh pages (measured here: 1 ms per round trip
** instead of 75 us). horus_keep_heap makes freed memory stay in the process.
*/
#define _GNU_SOURCE
#include "horus.h"

#include <errno.h>
#include <malloc.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>

uint64_t horus_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int horus_sleep_until(uint64_t deadline_ns) {
  struct timespec ts = {.tv_sec = (time_t)(deadline_ns / 1000000000u), .tv_nsec = (long)(deadline_ns % 1000000000u)};
  /* clock_nanosleep returns the error number instead of setting errno. */
  int rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
  if (rc == 0) return HORUS_OK;
  errno = rc;
  return HORUS_ESYS;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause(); /* lets the sibling hyperthread run, and saves power, while we wait */
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

int horus_sleep_until_spin(uint64_t deadline_ns, uint64_t spin_ns, uint64_t *overslept_ns) {
  uint64_t wake = deadline_ns > spin_ns ? deadline_ns - spin_ns : 0;
  uint64_t now = horus_now_ns();
  if (overslept_ns) *overslept_ns = 0;
  if (now < wake) {
    int rc = horus_sleep_until(wake);
    if (rc != HORUS_OK) return rc;
    now = horus_now_ns();
    if (overslept_ns) *overslept_ns = now - wake;
  }
  while (now < deadline_ns) {
    cpu_relax();
    now = horus_now_ns();
  }
  return HORUS_OK;
}

void horus_timer_slack_min(void) { prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL); }

int horus_keep_heap(void) {
  /* 32 MiB is glibc's ceiling for the mmap threshold on 64-bit targets. */
  return mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024) && mallopt(M_TRIM_THRESHOLD, 256 * 1024 * 1024) ? HORUS_OK
                                                                                                      : HORUS_EINVAL;
}

int horus_lock_memory(void) { return mlockall(MCL_CURRENT | MCL_FUTURE) == 0 ? HORUS_OK : HORUS_ESYS; }
