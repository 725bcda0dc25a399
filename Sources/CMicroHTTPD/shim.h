// CMicroHTTPD: shim over the system header <microhttpd.h> (Debian package in Package.swift).
#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <microhttpd.h>
