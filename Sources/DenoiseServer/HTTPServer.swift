// HTTPServer: the HTTP front end's routes and options. One route table maps a path to its methods,
// whether it needs the API key, and a handler; `respond` checks path (404), method (405) and key
// (401) in that order, then calls the handler. Handlers answer at once (/healthz, /readyz,
// /metrics, /v1/models, the web page at / from WebPage.swift) or run a generation
// (HTTPServer+Generate.swift); `POST /v1/models/{name}/reload` is HTTPServer+Reload.swift. Not here: the
// libmicrohttpd glue, request bodies and the size/time limits (HTTPServer+MHD.swift). Errors are
// JSON `{"error": "..."}`; each request is logged in one line.

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
    /// Most bytes of a request body (413 beyond; from Content-Length before reading, else while reading).
    public var maxBody = 8 << 20
    /// Most bytes of a request line's target, path and query (414 beyond).
    public var maxURL = 8192
    /// Seconds a client may take to send a whole request (408 beyond); also the idle time after
    /// which a kept-alive connection is closed.
    public var requestTimeout = 30.0
    public init() {}
}

/// An HTTP response before it is queued: a body, or a stream of Server-Sent Events.
struct Response {
    var status: Int
    var contentType = "application/json"
    var body = Data()
    var headers: [(String, String)] = []
    /// When set, the body is this stream (sent chunked as it is produced) and `body` is unused.
    var stream: EventStream?

    static func json(_ status: Int, _ object: Any, headers: [(String, String)] = []) -> Response {
        Response(status: status, body: jsonData(object) + Data("\n".utf8), headers: headers)
    }

    static func error(_ status: Int, _ message: String, headers: [(String, String)] = []) -> Response {
        json(status, ["error": message], headers: headers)
    }
}

/// Compact JSON with sorted keys, as every JSON body and event is written.
func jsonData(_ object: Any) -> Data {
    (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
}

/// A request as the handlers see it.
struct IncomingRequest {
    let method: String
    let path: String
    let query: [(String, String?)]
    let header: (String) -> String?
    let body: [UInt8]
    /// The connection's socket (to notice a client that hung up), or -1.
    let socket: Int32
}

/// One entry of the route table.
struct Route: Sendable {
    let path: String
    /// Methods served; GET implies HEAD (handled like GET, the body omitted).
    let methods: [String]
    /// Answered without the API key.
    let isOpen: Bool
    let handle: @Sendable (HTTPServer, IncomingRequest) -> Response

    var allowed: [String] { methods.contains("GET") ? methods + ["HEAD"] : methods }
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
    /// Guards `stopping`.
    private let stateLock = NSLock()
    private var stopping = false
    /// Connections still receiving their request (408 after `requestTimeout`); see HTTPServer+MHD.swift.
    let watchdog: RequestWatchdog
    /// The port listened on (the ephemeral one when `options.port` is 0).
    public private(set) var port: UInt16 = 0

    public init(engine: Engine, metrics: Metrics, options: ServerOptions, log: @escaping @Sendable (String) -> Void) {
        self.engine = engine
        self.metrics = metrics
        self.options = options
        self.log = log
        watchdog = RequestWatchdog(timeout: options.requestTimeout)
    }

    public func start() throws {
        daemon = try startDaemon()
        port = dn_mhd_port(daemon)
        watchdog.start()
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
        watchdog.stop()
    }

    var isStopping: Bool { stateLock.withLock { stopping } }

    // MARK: - Routes

    static let routes: [Route] = [
        Route(path: "/generate", methods: ["GET"], isOpen: false) { $0.generateFromQuery($1) },
        Route(path: "/v1/generate", methods: ["POST"], isOpen: false) { $0.generateFromJSON($1) },
        Route(path: "/healthz", methods: ["GET"], isOpen: true) { _, _ in .json(200, ["status": "ok"]) },
        Route(path: "/readyz", methods: ["GET"], isOpen: true) { server, _ in server.readiness() },
        Route(path: "/metrics", methods: ["GET"], isOpen: false) { server, _ in
            Response(status: 200, contentType: "text/plain; version=0.0.4", body: Data(server.metrics.render().utf8))
        },
        Route(path: "/v1/models", methods: ["GET"], isOpen: false) { server, _ in .json(200, ["models": server.engine.models.map(server.describe)]) },
        // The page only calls the API above (with the key the user types in, when one is set).
        Route(path: "/", methods: ["GET"], isOpen: true) { _, _ in
            Response(status: 200, contentType: "text/html; charset=utf-8", body: Data(WebPage.html.utf8))
        },
    ]

    static func route(_ path: String) -> Route? { routes.first { $0.path == path } }

    /// Answers one request; status 499 (client gone) closes the connection without a response.
    func respond(_ request: IncomingRequest) -> Response {
        if let reply = reloadRoute(method: request.method, path: request.path, header: request.header) { return reply }
        guard let route = Self.route(request.path) else {
            return .error(404, "no such path '\(request.path)' (try \(Self.routes.map(\.path).joined(separator: ", ")))")
        }
        guard route.allowed.contains(request.method) else {
            let allow = route.allowed.joined(separator: ", ")
            return .error(405, "method \(request.method) not allowed on \(request.path); use \(route.methods.joined(separator: " or "))", headers: [("Allow", allow)])
        }
        if !route.isOpen, let refusal = unauthorized(request.header) { return refusal }
        return route.handle(self, request)
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

    /// The `route` label of a path in /metrics: a route's path, the reload route's pattern, or "other".
    static func metricsLabel(_ path: String) -> String {
        route(path) != nil ? path : reloadName(path) != nil ? reloadRouteLabel : "other"
    }

    func readiness() -> Response {
        engine.ready && !isStopping ? .json(200, ["status": "ready", "models": engine.models.map(\.name)])
            : .error(503, isStopping ? "shutting down" : "compiling models")
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
}

/// Compares without an early exit, so timing does not reveal how much of a key matched.
func constantTimeEqual(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8), y = Array(b.utf8)
    var diff = UInt8(x.count == y.count ? 0 : 1)
    for i in 0..<max(x.count, y.count) { diff |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0) }
    return diff == 0
}
