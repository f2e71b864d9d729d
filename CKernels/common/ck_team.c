// A worker team: the synchronisation behind one parallel region (ConvKit's WorkerTeam).
//
// One thread, the leader, runs the region's code and publishes phases (a number of tasks and
// the number of team members that may take them); the other members claim tasks of the
// current phase and otherwise wait. Everything a waiter can wait for was already claimed by a
// running thread (or is the leader's own code), so a team never deadlocks when its members run
// one after another, and a leader alone runs every task.
//
// The claim word packs the whole phase: [limit:12][tasks:26][next:26]. A member claims task
// `next` with one compare-and-swap that also checks `next < tasks` and its index < `limit`,
// so a member that slept through several phases can only ever claim a real task of the phase
// that is current, and it reads the phase's body pointer after its claim succeeds (the phase
// cannot end, nor its body change, before that task is done).
#include "ck_kernels.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__linux__)
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
#else
#include <sched.h>
#endif

#define CK_TEAM_FIELD_BITS 26
#define CK_TEAM_FIELD_MASK ((UINT64_C(1) << CK_TEAM_FIELD_BITS) - 1)
#define CK_TEAM_LIMIT_MAX 4095

struct ck_team {
  _Alignas(64) _Atomic uint64_t word;  // the current phase: limit, tasks, next task
  _Alignas(64) _Atomic intptr_t done;  // tasks of the current phase finished
  _Alignas(64) _Atomic(void*) body;    // the current phase's body (opaque to C)
  _Atomic int32_t finished;            // the leader has left the region
  _Atomic uint32_t epoch;              // futex word: bumped when sleepers must look again
  _Atomic int32_t sleepers;            // members blocked (or about to block) on epoch
  _Atomic int32_t leader;              // 0 until a member takes the lead
  _Atomic int32_t joined;              // helper indices handed out
  int64_t spin_ns;
};

static inline void ck_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

static inline int64_t ck_now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void ck_futex_wait(_Atomic uint32_t* word, uint32_t expected) {
#if defined(__linux__)
  // Returns at once when *word != expected; spurious wake-ups are fine (callers re-check).
  syscall(SYS_futex, (uint32_t*)word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
#else
  (void)word; (void)expected;
  sched_yield();
#endif
}

static void ck_futex_wake_all(_Atomic uint32_t* word) {
#if defined(__linux__)
  syscall(SYS_futex, (uint32_t*)word, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
#else
  (void)word;
#endif
}

ck_team* ck_team_create(int64_t spin_ns) {
  ck_team* t = aligned_alloc(64, sizeof(ck_team));
  if (!t) return NULL;
  memset(t, 0, sizeof(*t));
  t->spin_ns = spin_ns < 0 ? 0 : spin_ns;
  ck_team_reset(t);
  return t;
}

void ck_team_destroy(ck_team* t) { free(t); }

void ck_team_reset(ck_team* t) {
  atomic_store(&t->word, 0);
  atomic_store(&t->done, 0);
  atomic_store(&t->body, NULL);
  atomic_store(&t->finished, 0);
  atomic_store(&t->sleepers, 0);
  atomic_store(&t->leader, 0);
  atomic_store(&t->joined, 0);
}

int ck_team_take_lead(ck_team* t) {
  int32_t expected = 0;
  return atomic_compare_exchange_strong(&t->leader, &expected, 1);
}

intptr_t ck_team_join(ck_team* t) { return (intptr_t)atomic_fetch_add(&t->joined, 1) + 1; }

intptr_t ck_team_max_tasks(void) { return (intptr_t)CK_TEAM_FIELD_MASK; }

static void ck_team_wake(ck_team* t) {
  // Pairs with the sleeper's increment of `sleepers` before its last look (both seq_cst):
  // either the sleeper sees the new state, or this sees the sleeper and bumps the epoch.
  if (atomic_load(&t->sleepers) > 0) {
    atomic_fetch_add(&t->epoch, 1);
    ck_futex_wake_all(&t->epoch);
  }
}

void ck_team_publish(ck_team* t, intptr_t tasks, intptr_t limit, void* body) {
  // The fields hold what fits: more members than 12 bits count is more than any team has.
  if (limit > CK_TEAM_LIMIT_MAX) limit = CK_TEAM_LIMIT_MAX;
  if (limit < 1) limit = 1;
  if (tasks < 0) tasks = 0;
  if ((uint64_t)tasks > CK_TEAM_FIELD_MASK) tasks = (intptr_t)CK_TEAM_FIELD_MASK;  // callers check ck_team_max_tasks
  atomic_store_explicit(&t->body, body, memory_order_relaxed);
  atomic_store_explicit(&t->done, 0, memory_order_relaxed);
  uint64_t w = ((uint64_t)limit << (2 * CK_TEAM_FIELD_BITS)) | ((uint64_t)tasks << CK_TEAM_FIELD_BITS);
  atomic_store(&t->word, w);  // seq_cst: releases body and done, orders before the sleeper check
  ck_team_wake(t);
}

int ck_team_claim(ck_team* t, intptr_t index, intptr_t* task, void** body) {
  uint64_t w = atomic_load_explicit(&t->word, memory_order_relaxed);
  for (;;) {
    uint64_t next = w & CK_TEAM_FIELD_MASK;
    uint64_t tasks = (w >> CK_TEAM_FIELD_BITS) & CK_TEAM_FIELD_MASK;
    uint64_t limit = w >> (2 * CK_TEAM_FIELD_BITS);
    if (next >= tasks || (uint64_t)index >= limit) return 0;
    if (atomic_compare_exchange_weak_explicit(&t->word, &w, w + 1, memory_order_acquire, memory_order_relaxed)) {
      *task = (intptr_t)next;
      *body = atomic_load_explicit(&t->body, memory_order_relaxed);
      return 1;
    }
  }
}

int ck_team_wait_leader(ck_team* t) {
  int64_t deadline = 0;
  for (uint32_t spins = 0;; spins++) {
    if (atomic_load_explicit(&t->finished, memory_order_acquire)) return 0;
    if (atomic_load_explicit(&t->leader, memory_order_acquire)) return 1;
    ck_cpu_relax();
    if ((spins & 63) != 63) continue;
    int64_t now = ck_now_ns();
    if (deadline == 0) deadline = now + t->spin_ns;
    if (now >= deadline) return 0;
  }
}

void ck_team_task_done(ck_team* t) { atomic_fetch_add_explicit(&t->done, 1, memory_order_release); }

void ck_team_wait_phase(ck_team* t, intptr_t tasks) {
  // Every task is claimed by now; wait for the members still running theirs.
  for (uint32_t spins = 0; atomic_load_explicit(&t->done, memory_order_acquire) < tasks; spins++) {
    if (spins < 4096) {
      ck_cpu_relax();
    } else {
      sched_yield();  // the member may have been preempted: give it the core
    }
  }
}

void ck_team_finish(ck_team* t) {
  atomic_store(&t->finished, 1);
  ck_team_wake(t);
}

static int ck_team_has_work(ck_team* t, intptr_t index) {
  uint64_t w = atomic_load(&t->word);  // seq_cst: the sleeper's last look (see ck_team_wake)
  uint64_t next = w & CK_TEAM_FIELD_MASK;
  uint64_t tasks = (w >> CK_TEAM_FIELD_BITS) & CK_TEAM_FIELD_MASK;
  uint64_t limit = w >> (2 * CK_TEAM_FIELD_BITS);
  return next < tasks && (uint64_t)index < limit;
}

int ck_team_wait_work(ck_team* t, intptr_t index) {
  int64_t deadline = 0;
  for (uint32_t spins = 0;; spins++) {
    if (atomic_load_explicit(&t->finished, memory_order_acquire)) return 0;
    if (ck_team_has_work(t, index)) return 1;
    ck_cpu_relax();
    if ((spins & 63) != 63) continue;
    int64_t now = ck_now_ns();
    if (deadline == 0) deadline = now + t->spin_ns;
    if (now < deadline) continue;
    // Block until the leader publishes or finishes.
    atomic_fetch_add(&t->sleepers, 1);
    uint32_t e = atomic_load(&t->epoch);
    if (!atomic_load(&t->finished) && !ck_team_has_work(t, index)) ck_futex_wait(&t->epoch, e);
    atomic_fetch_sub(&t->sleepers, 1);
    deadline = 0;
  }
}

// ---- The calling thread's team (one per thread, for nested fan-outs) ----
static _Thread_local void* ck_current_team;

void* ck_thread_team(void) { return ck_current_team; }
void ck_set_thread_team(void* team) { ck_current_team = team; }
