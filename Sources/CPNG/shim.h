// CPNG: shim over the system header <png.h> (Debian package in Package.swift).
#include <png.h>
