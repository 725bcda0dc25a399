// CBLAS: shim over the system header <cblas.h> (Debian package in Package.swift).
#include <cblas.h>

// OpenBLAS's pthread build starts its worker threads when loaded; they spin (sched_yield) after
// start-up and would compete with our own threads. We run OpenBLAS single-threaded and stop them.
int blas_thread_shutdown_(void);
