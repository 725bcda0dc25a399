// HTTPServer+Reload: the route `POST /v1/models/{name}/reload`, a thin front-end over
// `Engine.reload` (ModelReload.swift). It needs the API key when one is set. Answers 200 with
// what is served now, or the reload error's status (404 unknown model, 409 not reloadable, 422
// the files cannot be loaded or compiled — the previous version keeps serving —, 503 shutting
// down) with `{"error": ...}`. Runs on the connection's libmicrohttpd thread for as long as the
// load and compile take; the engine keeps generating meanwhile.

import Foundation

extension HTTPServer {
    /// The `route` label of the reload route in /metrics.
    static let reloadRouteLabel = "/v1/models/{name}/reload"

    /// The model name in `/v1/models/{name}/reload`, or nil for any other path.
    static func reloadName(_ path: String) -> String? {
        let prefix = "/v1/models/", suffix = "/reload"
        guard path.hasPrefix(prefix), path.hasSuffix(suffix), path.count > prefix.count + suffix.count else { return nil }
        let name = String(path.dropFirst(prefix.count).dropLast(suffix.count))
        return name.contains("/") ? nil : name
    }

    /// The reply to a reload request, or nil when `path` is not the reload route.
    func reloadRoute(method: String, path: String, header: (String) -> String?) -> Response? {
        guard let name = Self.reloadName(path) else { return nil }
        guard method == "POST" else {
            return .error(405, "method \(method) not allowed on \(path); use POST", headers: [("Allow", "POST")])
        }
        if let refusal = unauthorized(header) { return refusal }
        if isStopping { return .error(503, "shutting down", headers: [("Retry-After", "5")]) }
        do {
            let r = try engine.reload(name, trigger: "POST")
            return .json(200, ["name": r.name, "reloaded": true, "path": r.path, "parameters": r.parameters, "image_shape": r.imageShape,
                               "fingerprint": r.fingerprint, "previous_fingerprint": r.previousFingerprint, "generation": r.generation,
                               "seconds": r.seconds])
        } catch let e as ReloadError {
            return .error(e.status, e.description, headers: e.reason == .stopping ? [("Retry-After", "5")] : [])
        } catch {
            return .error(500, "reload failed: \(error)")
        }
    }
}
