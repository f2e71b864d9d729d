#include "ck_kernels.h"

intptr_t ck_atomic_fetch_increment(intptr_t* counter) {
  return __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
}
