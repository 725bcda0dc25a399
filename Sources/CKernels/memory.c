// Process memory policy for tensor allocation; see CPU.swift.
#include "CKernels.h"
#include <malloc.h>

void dn_keep_freed_memory(void) {
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
}
