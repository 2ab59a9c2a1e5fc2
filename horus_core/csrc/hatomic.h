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

/* One load of a plain shared-memory field that the code then checks and uses: the compiler may
** not load it again (another process could have changed it between the check and the use). */
#define READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))

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

/* Futex words: relaxed, because the [DOORBELL] full fences order them (see topic.c). */
static inline uint32_t hatomic_load32_relaxed(const hatomic_u32 *p) {
  return atomic_load_explicit((hatomic_u32 *)p, memory_order_relaxed);
}
static inline void hatomic_add32_relaxed(hatomic_u32 *p, int32_t v) {
  atomic_fetch_add_explicit(p, (uint32_t)v, memory_order_relaxed);
}

/* A full fence: the store before it is visible before the load after it. Pairs
** with the same fence on the other side of a Dekker-style handshake. */
static inline void hatomic_fence_full(void) { atomic_thread_fence(memory_order_seq_cst); }

/* ---- [SEQLOCK] ----------------------------------------------------------------
** The one torn-read protocol of the core, for topic slots, log ring records
** and stats records (topic.c draws it in full). A record's seq word is
** HSEQ_WRITING(n) (odd) while record n is written and HSEQ_DONE(n) (even)
** once it is complete. Both grow with n, so a reader tells "not written yet",
** "record n" and "overwritten by a newer lap" apart; seq 0 is "never written".
** Writers never wait; a reader copies the record, then asks hseq_read_valid
** whether the copy is whole, and otherwise discards it and retries.
*/
#define HSEQ_WRITING(n) (2u * (uint64_t)(n) + 1u)
#define HSEQ_DONE(n) (2u * (uint64_t)(n) + 2u)

/* Writer begin, after the slot is ours (claimed, or ours alone): the release
** fence orders the odd seq before every store of the record, pairing with the
** acquire fence of hseq_read_valid. Without it a reader could copy a new byte
** and still reload the old even seq. */
static inline void hseq_fence_write_begin(void) { atomic_thread_fence(memory_order_release); }

/* Writer begin for a slot with one writer: mark record n in progress. */
static inline void hseq_write_begin(hatomic_u64 *seq, uint64_t n) {
  hatomic_store_relaxed(seq, HSEQ_WRITING(n));
  hseq_fence_write_begin();
}

/* Writer end: a reader that loads HSEQ_DONE(n) with acquire sees the whole record. */
static inline void hseq_write_end(hatomic_u64 *seq, uint64_t n) { hatomic_store_release(seq, HSEQ_DONE(n)); }

/* Reader end: the copy just taken, of a record whose seq the reader loaded
** (acquire) as `seen`, is whole if seq still holds `seen`. The acquire fence
** keeps the copy's loads before this reload; it pairs with the writer-begin
** release fence. */
static inline int hseq_read_valid(const hatomic_u64 *seq, uint64_t seen) {
  atomic_thread_fence(memory_order_acquire);
  return hatomic_load_relaxed(seq) == seen;
}

#endif /* HORUS_HATOMIC_H */
