// CBLAS: shim over the system header <cblas.h> (Debian package in Package.swift).
#include <cblas.h>
