// Memory helpers for ConvKit's large buffers.
#include "ck_kernels.h"

#if defined(__linux__)
#include <sys/mman.h>

void ck_advise_huge_pages(void* p, size_t bytes) {
#ifdef MADV_HUGEPAGE
  // Best effort: without transparent huge pages (or with them disabled) this fails silently.
  (void)madvise(p, bytes, MADV_HUGEPAGE);
#else
  (void)p; (void)bytes;
#endif
}
#else
void ck_advise_huge_pages(void* p, size_t bytes) { (void)p; (void)bytes; }
#endif
