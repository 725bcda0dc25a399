// HTTPServer+MHD: the libmicrohttpd glue (one thread per connection) and the request limits, all
// answered before a request reaches a route, so none takes a generation slot:
// - 414: a request target longer than `maxURL` (seen by the URI logger; the connection buffer is
//   sized so such a target still fits and gets its answer instead of a dropped connection);
// - 413: a body over `maxBody`, from Content-Length before reading it, or while reading a chunked one;
// - 408: a request not fully received within `requestTimeout` (RequestWatchdog);
// - 400 for a malformed JSON body comes from GenerateRequest.
// Per-request state (`RequestState`) lives from the URI logger to the completion callback.
// Streams (Server-Sent Events) are sent through MHD_create_response_from_callback.

import CMicroHTTPD
import Foundation

/// What libmicrohttpd keeps for one request between its calls (its `*req_cls`); touched only by
/// the connection's thread.
final class RequestState {
    /// Bytes of the raw request target (path and query).
    let targetLength: Int
    /// The access handler saw the headers (its first call).
    var started = false
    var body: [UInt8] = []
    /// The body grew past `maxBody` (the rest is discarded).
    var tooLarge = false

    init(targetLength: Int) { self.targetLength = targetLength }
}

extension HTTPServer {
    /// Each connection's buffer: a request line of `maxURL` bytes plus 64 KB of headers.
    var connectionMemory: Int { options.maxURL + (64 << 10) }

    func startDaemon() throws -> OpaquePointer {
        let context = Unmanaged.passUnretained(self).toOpaque()
        // libmicrohttpd's own idle timeout is a backstop behind RequestWatchdog's 408, long enough
        // for a generation to run (a handler waiting for the engine counts as idle to it).
        let backstop = UInt32(min(options.timeout + options.requestTimeout + 60, Double(UInt32.max / 2)))
        guard let d = dn_mhd_start(options.host, options.port, accessHandler, context, options.connectionLimit, backstop,
                                   connectionMemory, uriLogger, requestCompleted, connectionNotified) else {
            throw ServerError.cannotListen("cannot listen on \(options.host):\(options.port) (address in use, or not an IPv4/IPv6 address?)")
        }
        return d
    }

    /// Refuses a request before its route (413, 414): logged and counted like any answer.
    fileprivate func refuse(_ connection: OpaquePointer, method: String, path: String, _ status: Int, _ message: String) -> MHD_Result {
        metrics.request(route: Self.metricsLabel(path), status: status, seconds: 0)
        log("\(method) \(path) \(status) \(message)")
        return queue(.error(status, message, headers: [("Connection", "close")]), on: connection)
    }

    fileprivate func queue(_ response: Response, on connection: OpaquePointer) -> MHD_Result {
        let handle: OpaquePointer?
        if let stream = response.stream {
            handle = MHD_create_response_from_callback(UInt64.max, 16 << 10, streamReader, Unmanaged.passRetained(stream).toOpaque(), streamFreed)
        } else {
            handle = response.body.withUnsafeBytes { raw in
                MHD_create_response_from_buffer(raw.count, UnsafeMutableRawPointer(mutating: raw.baseAddress), .RESPMEM_MUST_COPY)
            }
        }
        guard let handle else { return .NO }
        _ = MHD_add_response_header(handle, "Content-Type", response.contentType)
        for (name, value) in response.headers { _ = MHD_add_response_header(handle, name, value) }
        let queued = MHD_queue_response(connection, UInt32(response.status), handle)
        MHD_destroy_response(handle)
        return queued
    }
}

/// Answers 408 on connections that have been receiving a request for longer than `timeout`
/// seconds: libmicrohttpd itself would only close them silently. A connection is watched from
/// when it opens, or its previous response completed, until its whole request (body included) is
/// received. Checked 10 times per timeout on its own thread.
final class RequestWatchdog: @unchecked Sendable {
    let timeout: Double
    /// Guards `receiving` and `running`; held while answering, so a socket is not closed under it
    /// (libmicrohttpd reports a connection closed before it closes the socket).
    private let lock = NSCondition()
    private var receiving: [Int32: Date] = [:]
    private var running = false

    init(timeout: Double) { self.timeout = timeout }

    func start() {
        lock.withLock { running = true }
        let t = Thread { [self] in
            lock.lock()
            while running {
                _ = lock.wait(until: Date().addingTimeInterval(max(timeout / 10, 0.01)))
                let now = Date()
                for (fd, since) in receiving where now.timeIntervalSince(since) > timeout {
                    let body = String(decoding: jsonData(["error": "request not received within \(timeout) s"]), as: UTF8.self) + "\n"
                    let reply = "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body
                    _ = reply.withCString { dn_send_now(fd, $0, strlen($0)) }
                    dn_shutdown(fd)
                    receiving[fd] = nil
                }
            }
            lock.unlock()
        }
        t.name = "denoise-request-watchdog"
        t.start()
    }

    func stop() { lock.withLock { running = false; lock.signal() } }

    /// The connection waits for (the rest of) a request from now.
    func receiving(_ fd: Int32) { lock.withLock { receiving[fd] = Date() } }
    /// The request is in (or the connection is gone): no more clock.
    func received(_ fd: Int32) { lock.withLock { receiving[fd] = nil } }
}

// MARK: - libmicrohttpd callbacks

/// Collects query arguments in order.
private final class QueryCollector {
    var items: [(String, String?)] = []
}

private let queryIterator: MHD_KeyValueIterator = { context, _, key, value in
    let collector = Unmanaged<QueryCollector>.fromOpaque(context!).takeUnretainedValue()
    collector.items.append((key.map { String(cString: $0) } ?? "", value.map { String(cString: $0) }))
    return .YES
}

private let uriLogger: dn_uri_logger = { _, uri, _ in
    Unmanaged.passRetained(RequestState(targetLength: uri.map { strlen($0) } ?? 0)).toOpaque()
}

private let requestCompleted: MHD_RequestCompletedCallback = { context, connection, requestContext, termination in
    if let requestContext, let raw = requestContext.pointee {
        Unmanaged<RequestState>.fromOpaque(raw).release()
        requestContext.pointee = nil
    }
    // A kept-alive connection now waits for its next request.
    if termination.rawValue == 0 /* MHD_REQUEST_TERMINATED_COMPLETED_OK */, let context, let connection {
        Unmanaged<HTTPServer>.fromOpaque(context).takeUnretainedValue().watchdog.receiving(dn_mhd_socket(connection))
    }
}

private let connectionNotified: MHD_NotifyConnectionCallback = { context, connection, _, event in
    guard let context, let connection else { return }
    let server = Unmanaged<HTTPServer>.fromOpaque(context).takeUnretainedValue()
    let fd = dn_mhd_socket(connection)
    if event.rawValue == 0 /* MHD_CONNECTION_NOTIFY_STARTED */ { server.watchdog.receiving(fd) } else { server.watchdog.received(fd) }
}

private let streamReader: MHD_ContentReaderCallback = { context, _, buffer, capacity in
    guard let context, let buffer else { return -2 }
    return Unmanaged<EventStream>.fromOpaque(context).takeUnretainedValue().read(into: buffer, capacity: capacity)
}

private let streamFreed: MHD_ContentReaderFreeCallback = { context in
    guard let context else { return }
    let stream = Unmanaged<EventStream>.fromOpaque(context).takeRetainedValue()
    stream.close()
}

private let accessHandler: MHD_AccessHandlerCallback = { context, connection, url, method, _, uploadData, uploadSize, requestContext in
    guard let context, let connection, let requestContext, let raw = requestContext.pointee else { return .NO }
    let server = Unmanaged<HTTPServer>.fromOpaque(context).takeUnretainedValue()
    let state = Unmanaged<RequestState>.fromOpaque(raw).takeUnretainedValue()
    let path = url.map { String(cString: $0) } ?? "/", verb = method.map { String(cString: $0) } ?? "GET"
    let socket = dn_mhd_socket(connection)
    let header = { (name: String) -> String? in MHD_lookup_connection_value(connection, .HEADER_KIND, name).map { String(cString: $0) } }
    // First call: headers only. Refuse what is too long before reading any body.
    if !state.started {
        state.started = true
        if state.targetLength > server.options.maxURL {
            server.watchdog.received(socket)
            return server.refuse(connection, method: verb, path: path, 414,
                                 "request target of \(state.targetLength) bytes is longer than the \(server.options.maxURL) allowed")
        }
        if let text = header("Content-Length") {
            guard let length = Int(text), length >= 0 else {
                server.watchdog.received(socket)
                return server.refuse(connection, method: verb, path: path, 400, "Content-Length '\(text)' is not a byte count")
            }
            if length > server.options.maxBody {
                server.watchdog.received(socket)
                return server.refuse(connection, method: verb, path: path, 413,
                                     "request body of \(length) bytes is larger than the \(server.options.maxBody) allowed (--max-body)")
            }
        }
        return .YES
    }
    // Later calls carry the body; the last one has none.
    if let uploadSize, uploadSize.pointee > 0 {
        let count = uploadSize.pointee
        if state.tooLarge || state.body.count + count > server.options.maxBody {
            state.tooLarge = true
            state.body = []
        } else if let uploadData {
            uploadData.withMemoryRebound(to: UInt8.self, capacity: count) { state.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: count)) }
        }
        uploadSize.pointee = 0
        return .YES
    }
    server.watchdog.received(socket)
    if state.tooLarge {
        return server.refuse(connection, method: verb, path: path, 413, "request body is larger than the \(server.options.maxBody) bytes allowed (--max-body)")
    }
    let start = Date()
    let collector = QueryCollector()
    withExtendedLifetime(collector) {
        _ = MHD_get_connection_values(connection, .GET_ARGUMENT_KIND, queryIterator, Unmanaged.passUnretained(collector).toOpaque())
    }
    let request = IncomingRequest(method: verb, path: path, query: collector.items, header: header, body: state.body, socket: socket)
    let response = server.respond(request)
    let status = response.status
    let seconds = Date().timeIntervalSince(start)
    server.metrics.request(route: HTTPServer.metricsLabel(path), status: status, seconds: seconds)
    let query = collector.items.map { item in item.1.map { "\(item.0)=\($0)" } ?? item.0 }.joined(separator: "&")
    server.log(String(format: "%@ %@%@ %d %.1f ms%@", verb, path, query.isEmpty ? "" : "?" + query, status, seconds * 1000,
                      response.stream == nil ? "" : " (stream opened)"))
    guard status != 499 else { return .NO }
    return server.queue(response, on: connection)
}
