// HTTPServer: the HTTP front end on libmicrohttpd, one thread per connection. A /generate handler
// validates its parameters, hands a Ticket to the Engine and waits for it, checking every 50 ms
// whether the client hung up (its samples then leave the batch at the next step) or the request
// ran past --timeout (504). Everything else answers at once: /healthz, /readyz, /metrics,
// /v1/models. Errors are JSON `{"error": "..."}`; each request is logged in one line.

import CMicroHTTPD
import Diffusion
import Foundation
import Imaging
import ModelIO
import Tensors

public struct ServerOptions: Sendable {
    public var host = "127.0.0.1"
    public var port: UInt16 = 8080
    public var maxSteps = 1000
    public var maxN = 16
    /// Seconds a /generate request may take before it is cancelled with 504.
    public var timeout = 300.0
    /// Required as `Authorization: Bearer KEY` or `X-API-Key: KEY` (except /healthz, /readyz).
    public var apiKey: String?
    public var connectionLimit: UInt32 = 1024
    /// Steps when a request gives none.
    public var defaultSteps = 50
    public init() {}
}

/// An HTTP response before it is queued.
struct Response {
    var status: Int
    var contentType = "application/json"
    var body = Data()
    var headers: [(String, String)] = []

    static func json(_ status: Int, _ object: Any, headers: [(String, String)] = []) -> Response {
        let body = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return Response(status: status, body: body + Data("\n".utf8), headers: headers)
    }

    static func error(_ status: Int, _ message: String, headers: [(String, String)] = []) -> Response {
        json(status, ["error": message], headers: headers)
    }
}

public enum ServerError: Error, CustomStringConvertible {
    case cannotListen(String)
    public var description: String {
        switch self { case .cannotListen(let s): return s }
    }
}

public final class HTTPServer: @unchecked Sendable {
    public let engine: Engine
    public let metrics: Metrics
    public let options: ServerOptions
    let log: @Sendable (String) -> Void
    private var daemon: OpaquePointer?
    private let stateLock = NSLock()
    private var stopping = false
    /// The port listened on (the ephemeral one when `options.port` is 0).
    public private(set) var port: UInt16 = 0

    public init(engine: Engine, metrics: Metrics, options: ServerOptions, log: @escaping @Sendable (String) -> Void) {
        self.engine = engine
        self.metrics = metrics
        self.options = options
        self.log = log
    }

    public func start() throws {
        let context = Unmanaged.passUnretained(self).toOpaque()
        guard let d = dn_mhd_start(options.host, options.port, accessHandler, context, options.connectionLimit, 600) else {
            throw ServerError.cannotListen("cannot listen on \(options.host):\(options.port) (address in use, or not an IPv4/IPv6 address?)")
        }
        daemon = d
        port = dn_mhd_port(d)
    }

    /// Refuses new requests from now on (503) and stops accepting connections.
    public func quiesce() {
        stateLock.withLock { stopping = true }
        if let daemon { _ = MHD_quiesce_daemon(daemon) }
    }

    /// Closes every connection and the listening socket. Call after the engine stopped.
    public func stop() {
        quiesce()
        if let daemon { MHD_stop_daemon(daemon) }
        daemon = nil
    }

    var isStopping: Bool { stateLock.withLock { stopping } }

    // MARK: - Requests

    static let routes = ["/generate", "/healthz", "/readyz", "/metrics", "/v1/models"]

    /// Answers one request; status 499 (client gone) closes the connection without a response.
    func respond(method: String, path: String, query: [(String, String?)], header: (String) -> String?, socket: Int32) -> Response {
        if let reply = reloadRoute(method: method, path: path, header: header) { return reply }
        guard Self.routes.contains(path) else {
            return .error(404, "no such path '\(path)' (try /generate, /healthz, /readyz, /metrics, /v1/models)")
        }
        guard method == "GET" || method == "HEAD" else {
            return .error(405, "method \(method) not allowed on \(path); use GET", headers: [("Allow", "GET, HEAD")])
        }
        if path != "/healthz", path != "/readyz", let refusal = unauthorized(header) { return refusal }
        switch path {
        case "/healthz": return .json(200, ["status": "ok"])
        case "/readyz":
            return engine.ready && !isStopping ? .json(200, ["status": "ready", "models": engine.models.map(\.name)])
                : .error(503, isStopping ? "shutting down" : "compiling models")
        case "/metrics":
            return Response(status: 200, contentType: "text/plain; version=0.0.4", body: Data(metrics.render().utf8))
        case "/v1/models": return .json(200, ["models": engine.models.map(describe)])
        default: return generate(query: query, socket: socket)
        }
    }

    /// The 401 for a request without the API key (when one is set), else nil.
    func unauthorized(_ header: (String) -> String?) -> Response? {
        guard let key = options.apiKey else { return nil }
        let bearer = header("Authorization").flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
        guard let given = bearer ?? header("X-API-Key") else {
            return .error(401, "missing API key (send 'Authorization: Bearer KEY' or 'X-API-Key: KEY')", headers: [("WWW-Authenticate", "Bearer")])
        }
        guard constantTimeEqual(given, key) else { return .error(401, "wrong API key", headers: [("WWW-Authenticate", "Bearer")]) }
        return nil
    }

    func describe(_ m: ServedModel) -> [String: Any] {
        let s = m.model.schedule
        return ["name": m.name, "image_shape": m.model.imageShape, "channels": m.model.imageShape[0],
                "height": m.model.imageShape[1], "width": m.model.imageShape[2],
                "num_train_timesteps": s.numTrainTimesteps,
                "schedule": ["beta_schedule": s.betaSchedule.rawValue, "beta_start": s.betaStart, "beta_end": s.betaEnd],
                "prediction_type": s.predictionType.rawValue, "parameters": m.model.graph.parameterCount,
                "class_conditional": m.model.classes != nil,
                "num_classes": m.model.classes?.count as Any? ?? NSNull(), "class_names": m.model.classes?.names ?? []]
    }

    func generate(query: [(String, String?)], socket: Int32) -> Response {
        if isStopping { return .error(503, "shutting down", headers: [("Retry-After", "5")]) }
        let request: GenerateRequest
        do { request = try GenerateRequest(query: query, models: engine.models, options: options) } catch {
            return .error((error as? RequestError)?.status ?? 400, "\(error)")
        }
        let model = request.model, stepper = model.stepper
        let jobs: [SampleJob]
        do {
            var options = GenerationOptions(count: request.n, seed: request.seed, sampler: request.sampler)
            options.classLabels = request.classLabels
            jobs = try stepper.jobs(options, samples: 0..<request.n)
        } catch { return .error(500, "cannot start generation: \(error)") }
        let record = GenerationRecord(model: model.name, seed: request.seed, sampler: request.sampler, jobs: jobs)
        let ticket = Ticket(model: model, jobs: jobs, record: record)
        do { try engine.submit(ticket) } catch Engine.SubmitError.queueFull {
            return .error(503, "queue full (\(engine.limits.maxQueue) requests waiting); retry later", headers: [("Retry-After", "1")])
        } catch {
            return .error(503, "shutting down", headers: [("Retry-After", "5")])
        }
        let deadline = Date().addingTimeInterval(options.timeout)
        while true {
            if let outcome = ticket.wait(seconds: 0.05) {
                switch outcome {
                case .done: break
                case .cancelled(let why): return .error(503, "cancelled: \(why)", headers: [("Retry-After", "5")])
                case .failed(let why): return .error(500, why)
                }
                break
            }
            if socket >= 0 && dn_peer_closed(socket) != 0 {
                ticket.end(.cancelled("client disconnected"))
                return .error(499, "client disconnected")
            }
            if Date() >= deadline {
                ticket.end(.cancelled("timeout"))
                return .error(504, "generation took longer than the \(options.timeout) s timeout")
            }
        }
        do {
            let images = try jobs.map { try SampleImages.image($0.x, index: 0) }
            let png = jobs.count == 1 ? try record.png(images[0], sample: 0) : try record.gridPNG(images)
            metrics.imagesGenerated(jobs.count)
            let classes = record.classLabels.isEmpty ? [] : [("X-Classes", record.classLabels.map(String.init).joined(separator: ","))]
            return Response(status: 200, contentType: "image/png", body: png, headers: [("X-Seed", "\(request.seed)")] + classes)
        } catch {
            return .error(500, "cannot encode the PNG: \(error)")
        }
    }
}

/// Compares without an early exit, so timing does not reveal how much of a key matched.
func constantTimeEqual(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8), y = Array(b.utf8)
    var diff = UInt8(x.count == y.count ? 0 : 1)
    for i in 0..<max(x.count, y.count) { diff |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0) }
    return diff == 0
}

// MARK: - libmicrohttpd glue

/// Collects query arguments in order.
private final class QueryCollector {
    var items: [(String, String?)] = []
}

private let queryIterator: MHD_KeyValueIterator = { context, _, key, value in
    let collector = Unmanaged<QueryCollector>.fromOpaque(context!).takeUnretainedValue()
    collector.items.append((key.map { String(cString: $0) } ?? "", value.map { String(cString: $0) }))
    return .YES
}

private let accessHandler: MHD_AccessHandlerCallback = { context, connection, url, method, _, _, uploadSize, requestContext in
    guard let context, let connection, let requestContext else { return .NO }
    // First call: headers only. Later calls carry any body (ignored); answer on the last one.
    if requestContext.pointee == nil {
        requestContext.pointee = UnsafeMutableRawPointer(bitPattern: 1)
        return .YES
    }
    if let uploadSize, uploadSize.pointee > 0 {
        uploadSize.pointee = 0
        return .YES
    }
    let server = Unmanaged<HTTPServer>.fromOpaque(context).takeUnretainedValue()
    let start = Date()
    let path = url.map { String(cString: $0) } ?? "/", verb = method.map { String(cString: $0) } ?? "GET"
    let collector = QueryCollector()
    withExtendedLifetime(collector) {
        _ = MHD_get_connection_values(connection, .GET_ARGUMENT_KIND, queryIterator, Unmanaged.passUnretained(collector).toOpaque())
    }
    let header = { (name: String) -> String? in MHD_lookup_connection_value(connection, .HEADER_KIND, name).map { String(cString: $0) } }
    let response = server.respond(method: verb, path: path, query: collector.items, header: header, socket: dn_mhd_socket(connection))
    let status = response.status
    let seconds = Date().timeIntervalSince(start)
    let route = HTTPServer.routes.contains(path) ? path : HTTPServer.reloadName(path) != nil ? HTTPServer.reloadRouteLabel : "other"
    server.metrics.request(route: route, status: status, seconds: seconds)
    let query = collector.items.map { item in item.1.map { "\(item.0)=\($0)" } ?? item.0 }.joined(separator: "&")
    server.log(String(format: "%@ %@%@ %d %.1f ms", verb, path, query.isEmpty ? "" : "?" + query, status, seconds * 1000))
    guard status != 499 else { return .NO }
    let body = response.body
    let handle: OpaquePointer? = body.withUnsafeBytes { raw in
        MHD_create_response_from_buffer(raw.count, UnsafeMutableRawPointer(mutating: raw.baseAddress), .RESPMEM_MUST_COPY)
    }
    guard let handle else { return .NO }
    _ = MHD_add_response_header(handle, "Content-Type", response.contentType)
    for (name, value) in response.headers { _ = MHD_add_response_header(handle, name, value) }
    let queued = MHD_queue_response(connection, UInt32(status), handle)
    MHD_destroy_response(handle)
    return queued
}
