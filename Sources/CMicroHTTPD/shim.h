// CMicroHTTPD: shim over the system header <microhttpd.h> (Debian package libmicrohttpd-dev).
// Swift cannot call C variadic functions, so the few variadic entry points the server needs are
// wrapped here with fixed arguments.
#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>
#include <string.h>
#include <errno.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <microhttpd.h>

/// MHD_OPTION_URI_LOG_CALLBACK's callback: sees the raw request target first; what it returns
/// becomes the request's context (`*req_cls`).
typedef void *(*dn_uri_logger)(void *cls, const char *uri, struct MHD_Connection *connection);

/// Starts a daemon (one thread per connection) listening on `host` (an IPv4 or IPv6 literal) and
/// `port` (0: an ephemeral port). `memory_limit` bounds each connection's buffer (request line and
/// headers must fit); `completed` runs when a request ends (any way), `notify` when a connection
/// opens or closes; all callbacks get `cls`. NULL when the address is invalid or cannot be bound.
static inline struct MHD_Daemon *dn_mhd_start(const char *host, uint16_t port, MHD_AccessHandlerCallback handler, void *cls,
                                              unsigned int connection_limit, unsigned int connection_timeout, size_t memory_limit,
                                              dn_uri_logger uri_logger, MHD_RequestCompletedCallback completed,
                                              MHD_NotifyConnectionCallback notify) {
    struct sockaddr_in v4;
    struct sockaddr_in6 v6;
    const struct sockaddr *addr;
    unsigned int flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC;
    memset(&v4, 0, sizeof v4);
    memset(&v6, 0, sizeof v6);
    if (inet_pton(AF_INET, host, &v4.sin_addr) == 1) {
        v4.sin_family = AF_INET;
        v4.sin_port = htons(port);
        addr = (const struct sockaddr *)&v4;
    } else if (inet_pton(AF_INET6, host, &v6.sin6_addr) == 1) {
        v6.sin6_family = AF_INET6;
        v6.sin6_port = htons(port);
        addr = (const struct sockaddr *)&v6;
        flags |= MHD_USE_IPv6;
    } else {
        return NULL;
    }
    return MHD_start_daemon(flags, port, NULL, NULL, handler, cls,
                            MHD_OPTION_SOCK_ADDR, addr,
                            MHD_OPTION_CONNECTION_LIMIT, connection_limit,
                            MHD_OPTION_CONNECTION_TIMEOUT, connection_timeout,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, memory_limit,
                            MHD_OPTION_URI_LOG_CALLBACK, uri_logger, cls,
                            MHD_OPTION_NOTIFY_COMPLETED, completed, cls,
                            MHD_OPTION_NOTIFY_CONNECTION, notify, cls,
                            MHD_OPTION_END);
}

/// The port the daemon listens on (the ephemeral one when started with port 0).
static inline uint16_t dn_mhd_port(struct MHD_Daemon *daemon) {
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info ? info->port : 0;
}

/// The connection's socket, or -1.
static inline int dn_mhd_socket(struct MHD_Connection *connection) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    return info ? (int)info->connect_fd : -1;
}

/// Whether the peer has closed the connection (orderly shutdown or reset), without consuming data.
static inline int dn_peer_closed(int fd) {
    char byte;
    ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) return 1;
    if (n < 0) return !(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
    return 0;
}

/// Writes `length` bytes to `fd` without blocking or raising SIGPIPE (a last answer before closing,
/// e.g. 408); the count written, or -1.
static inline long dn_send_now(int fd, const void *bytes, size_t length) {
    return (long)send(fd, bytes, length, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/// Shuts both directions of `fd`, so libmicrohttpd's thread sees the end and closes the connection.
static inline void dn_shutdown(int fd) { shutdown(fd, SHUT_RDWR); }
