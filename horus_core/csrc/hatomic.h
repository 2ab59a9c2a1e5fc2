/*
** hatomic.h: the only C11 atomics the HORUS core uses, named for their role.
**
** Every shared-memory field that two processes touch concurrently is an
** _Atomic 64-bit integer; these wrappers keep the memory order visible at the
** call site. At each use the caller names the partner operation it pairs with.
** 64-bit atomics are lock-free on every supported arch (x86_64, aarch64); a
** _Static_assert below refuses a target where they would not be, because a
** lock-based atomic in shared memory does not work across processes.
*/
#ifndef HORUS_HATOMIC_H
#define HORUS_HATOMIC_H

#include <stdatomic.h>
#include <stdint.h>

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free for shared memory");

typedef _Atomic uint64_t hatomic_u64;
typedef _Atomic uint32_t hatomic_u32; /* futex words: the kernel's futexes are 32-bit */

/* Publish: every store before this one is visible to a reader that loads the
** same value with hatomic_load_acquire. */
static inline void hatomic_store_release(hatomic_u64 *p, uint64_t v) {
  atomic_store_explicit(p, v, memory_order_release);
}

/* Observe a publication: pairs with hatomic_store_release of the same field. */
static inline uint64_t hatomic_load_acquire(const hatomic_u64 *p) {
  return atomic_load_explicit((hatomic_u64 *)p, memory_order_acquire);
}

/* A value whose ordering is provided by a fence next to it (see its caller). */
static inline uint64_t hatomic_load_relaxed(const hatomic_u64 *p) {
  return atomic_load_explicit((hatomic_u64 *)p, memory_order_relaxed);
}

static inline void hatomic_store_relaxed(hatomic_u64 *p, uint64_t v) {
  atomic_store_explicit(p, v, memory_order_relaxed);
}

static inline uint64_t hatomic_add_relaxed(hatomic_u64 *p, uint64_t v) {
  return atomic_fetch_add_explicit(p, v, memory_order_relaxed);
}

/* Claim: set *p from *expected to v if nobody changed it; on failure *expected
** gets the current value. Relaxed: callers order what follows with a fence. */
static inline int hatomic_cas_relaxed(hatomic_u64 *p, uint64_t *expected, uint64_t v) {
  return atomic_compare_exchange_strong_explicit(p, expected, v, memory_order_relaxed, memory_order_relaxed);
}

/* Finish: like hatomic_store_release, but only if *p still holds `expected`. */
static inline int hatomic_cas_release(hatomic_u64 *p, uint64_t expected, uint64_t v) {
  return atomic_compare_exchange_strong_explicit(p, &expected, v, memory_order_release, memory_order_relaxed);
}

static inline uint32_t hatomic_load32(const hatomic_u32 *p) {
  return atomic_load_explicit((hatomic_u32 *)p, memory_order_relaxed);
}
static inline void hatomic_add32(hatomic_u32 *p, int32_t v) {
  atomic_fetch_add_explicit(p, (uint32_t)v, memory_order_relaxed);
}

/* A full fence: the store before it is visible before the load after it. Pairs
** with the same fence on the other side of a Dekker-style handshake. */
static inline void hatomic_fence_full(void) { atomic_thread_fence(memory_order_seq_cst); }

/* Seqlock fences, named for the side that issues them (see [SEQLOCK] in topic.c). */
static inline void hatomic_fence_writer_begin(void) { atomic_thread_fence(memory_order_release); }
static inline void hatomic_fence_reader_end(void) { atomic_thread_fence(memory_order_acquire); }

#endif /* HORUS_HATOMIC_H */
