/*
** hatomic.h: the only C11 atomics the HORUS core uses, named for their role.
**
** Every shared-memory word that orders others (seq, head, claim and futex
** words) is _Atomic, and is only touched through these wrappers, whose names
** say the memory order: a plain `x = ...` on an _Atomic would silently be
** seq_cst, and a bare atomic_load_explicit hides its order at the call site.
** At each use the caller names the partner operation it pairs with, or, for a
** relaxed one, why no ordering is needed. The plain bytes such a word guards
** are read racily by design: see [PAYLOAD RACE] below.
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
** not load it again (another process could have changed it between the check and the use).
** Not an atomic and no ordering at all (Linux's READ_ONCE): for header fields read once at open,
** and for the topic slot's len, which bounds a [PAYLOAD RACE] copy. */
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

/* Relaxed: atomic (never torn), but orders nothing around it. Enough when a
** fence beside it orders it, when the only writer reads back its own store,
** or when the value is only a number (a sequence to hand out, a pid to name);
** each caller says which. */
static inline uint64_t hatomic_load_relaxed(const hatomic_u64 *p) {
  return atomic_load_explicit((hatomic_u64 *)p, memory_order_relaxed);
}

/* Relaxed store: as hatomic_load_relaxed, the caller says why no order is needed. */
static inline void hatomic_store_relaxed(hatomic_u64 *p, uint64_t v) {
  atomic_store_explicit(p, v, memory_order_relaxed);
}

/* Relaxed fetch-and-add, returning the old value: hands out distinct numbers
** (each caller gets its own) without ordering anything else. */
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
** The one torn-read protocol of the core, for topic slots (topic.c), log ring
** records (logring.c) and stats records (stats.c). Every use goes through the
** hseq_* functions below; the tag [SEQLOCK] marks each place that relies on it.
**
** A record's seq word is HSEQ_WRITING(n) (odd) while record n is being
** written and HSEQ_DONE(n) (even) once it is complete; seq 0 is "never
** written". Both grow with n, so one load tells a reader "not written yet"
** (below HSEQ_DONE(n)), "record n" (equal) and "overwritten by a newer lap"
** (above): a ring reader needs no other generation counter.
**
** Writer: hseq_write_begin (or hseq_write_claim when several writers share
** the ring), then plain stores of the record, then hseq_write_end (or
** hseq_write_end_claimed). Writers never wait for readers.
** Reader: seen = hseq_read_begin; if seen is the value it wants, copy the
** record into private memory; then hseq_read_valid(seq, seen). Only a copy
** that passes is used; otherwise the reader discards it and retries (or
** counts the record as lost). Readers never write shared memory.
**
** Two pairs of orderings make a passing copy whole:
**   - hseq_write_end's release store / hseq_read_begin's acquire load: a
**     reader that loads HSEQ_DONE(n) sees every store of record n (or of a
**     later record, which the recheck then refuses).
**   - the release fence at writer begin / the acquire fence in
**     hseq_read_valid: if the copy read any byte stored after a writer's
**     begin, the fences synchronise, so the recheck sees that writer's
**     HSEQ_WRITING (or later) and fails. Without the writer's fence a copy
**     could read a new byte yet reload the old even seq; without the
**     reader's, the recheck could be hoisted above the copy's loads.
**
** [PAYLOAD RACE] The reader's copy is a data race, on purpose. It reads
** the record's plain (non-atomic) bytes with memcpy while a writer may be
** storing them: the topic payload (module.c copies it between
** horus_topic_peek and horus_topic_confirm), the log ring record
** (horus_logring_read) and the stats record (horus_stats_read). C11
** (5.1.2.4: two conflicting accesses, one not atomic, neither happening
** before the other) makes that undefined behaviour, and processes sharing a
** mapping are outside its model anyway. The core relies instead on what
** every seqlock relies on (Linux's among them, under the kernel's own memory
** model rather than C11's):
**   - No value from a copy is used before hseq_read_valid passes (the
**     exceptions are below), and by the fence pairing above a copy that
**     read any byte of a newer record never passes. A torn copy is thrown
**     away, never interpreted.
**   - On the targets built for (x86_64, aarch64) a racing plain load returns
**     some old or new value of those bytes and never traps; memcpy into
**     private memory has no other effect.
**   - The compiler cannot move the copy's loads below the acquire fence
**     (fences are compiler barriers too), and nothing reads the shared bytes
**     again after the check: later code reads the private copy.
**   - Exception one: the length of the topic copy, read before it. The
**     slot's len is loaded once (READ_ONCE) and checked against the
**     handle's private slot_size before it sizes the copy (log ring and
**     stats records are fixed-size). A torn or hostile length can make the
**     copy wrong, which the recheck refuses, but never take it out of the
**     slot.
**   - Exception two: horus_stats_read returns a record still mid-write
**     after 100 ms as it is, taking its writer for dead (nothing races a
**     dead writer's record). A writer merely preempted that long can make
**     that one result torn; horus.h says so.
** In the log ring, two writers a lap apart can also store the same bytes at
** once (logring.c): the seq word cannot see that race, the record's
** checksum drops what it mixed.
** The defined alternative is relaxed atomic loads and stores of every word,
** on both sides (WG21 P1478's byte-wise atomic memcpy is the standard's
** answer in waiting): the same instructions word for word on these targets,
** but no vectorised memcpy for payloads of up to HORUS_MAX_SLOT_SIZE bytes.
** ThreadSanitizer reports this race when both sides are threads of one
** process; it is the race the protocol is built to tolerate (Boehm, "Can
** seqlocks get along with programming language memory models?", MSPC 2012,
** gives the fence-based form used here).
*/
#define HSEQ_WRITING(n) (2u * (uint64_t)(n) + 1u)
#define HSEQ_DONE(n) (2u * (uint64_t)(n) + 2u)

/* Record numbers below this only: HSEQ_DONE(n) must not wrap (at 2^63 it would give 0, "never
** written", and a reader would take a slot nobody wrote for record n). A head read from shared
** memory at or above it is corrupt, whoever wrote it; a true one takes 2^62 records to get there
** (146 000 years at a million a second). */
#define HSEQ_MAX (UINT64_C(1) << 62)

/* The release fence of writer begin: orders the odd seq (stored by
** hseq_write_begin or won by hseq_write_claim) before every store of the
** record. Pairs with the acquire fence of hseq_read_valid. Only the two
** writer-begin functions below issue it. */
static inline void hseq_fence_write_begin(void) { atomic_thread_fence(memory_order_release); }

/* Writer begin for a record with one writer (the topic's publisher claim, the
** stats registry's scheduler thread): mark record n in progress. The store is
** relaxed because the fence after it does the ordering. */
static inline void hseq_write_begin(hatomic_u64 *seq, uint64_t n) {
  hatomic_store_relaxed(seq, HSEQ_WRITING(n));
  hseq_fence_write_begin();
}

/* Writer end: a reader that loads HSEQ_DONE(n) with hseq_read_begin sees the
** whole record. Release pairs with hseq_read_begin's acquire. */
static inline void hseq_write_end(hatomic_u64 *seq, uint64_t n) { hatomic_store_release(seq, HSEQ_DONE(n)); }

/* Writer begin for a record that several writers may race for (the log ring:
** any process appends): take the record's slot for record n by CAS from any
** older value to HSEQ_WRITING(n). 1: the slot is ours, write it. 0: a newer
** lap (n + k * capacity) already owns it, and record n is the one lost (the
** ring keeps the newest; a seq at or above HSEQ_WRITING(HSEQ_MAX) belongs to
** no record and is taken too). The CAS is relaxed: the fence after it orders it
** before the record's stores, as in hseq_write_begin. */
static inline int hseq_write_claim(hatomic_u64 *seq, uint64_t n) {
  uint64_t old = hatomic_load_relaxed(seq);
  do {
    /* A seq of no record below HSEQ_MAX was written by another process: the slot is free. */
    if (old >= HSEQ_WRITING(n) && old < HSEQ_WRITING(HSEQ_MAX)) return 0;
  } while (!hatomic_cas_relaxed(seq, &old, HSEQ_WRITING(n)));
  hseq_fence_write_begin();
  return 1;
}

/* Writer end after hseq_write_claim: HSEQ_DONE(n), with release as in
** hseq_write_end, but only if the slot is still ours. A writer a lap ahead
** that claimed it meanwhile keeps it (and wrote over our bytes: what the
** seq word cannot show, the log ring's checksum does). */
static inline void hseq_write_end_claimed(hatomic_u64 *seq, uint64_t n) {
  hatomic_cas_release(seq, HSEQ_WRITING(n), HSEQ_DONE(n));
}

/* Reader begin: the seq word, with acquire (pairs with the writer-end release
** store or CAS). The caller copies the record only if this is the value it
** wants (HSEQ_DONE of the record it is after, or any even value). */
static inline uint64_t hseq_read_begin(const hatomic_u64 *seq) { return hatomic_load_acquire(seq); }

/* Reader end: the copy just taken, of a record whose seq hseq_read_begin
** returned as `seen`, is whole if seq still holds `seen`. The acquire fence
** keeps the copy's loads before this reload; it pairs with the writer-begin
** release fence. The reload itself can then be relaxed. */
static inline int hseq_read_valid(const hatomic_u64 *seq, uint64_t seen) {
  atomic_thread_fence(memory_order_acquire);
  return hatomic_load_relaxed(seq) == seen;
}

#endif /* HORUS_HATOMIC_H */
