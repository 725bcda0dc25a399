// ModelReload: loading a served model again from where it came from, and swapping it in. The
// new version is loaded and its plans compiled on the calling thread (an HTTP connection thread,
// the watcher's or SIGHUP's), never the engine's, so generation goes on meanwhile; then
// `Engine.swap` makes it the version new requests get. Requests already queued or running keep
// the version they started on (their Ticket and SampleJobs hold it), so no request mixes weights.
// Reloads are serialized by `Engine.reloadLock`: a second one waits for the first, then loads
// the files as they are then. A failed reload changes nothing: the old version keeps serving.
// Not here: the HTTP route (HTTPServer+Reload.swift), polling for changes (ModelWatcher.swift).

import Diffusion
import Foundation
import ModelIO

/// Where a served model was loaded from, and how to load it again the same way.
public struct ModelSource: Sendable {
    /// The model's file or folder.
    public let path: String
    /// Loads the model at `path` with the options it was first loaded with (e.g. `denoise serve`'s
    /// --scheduler-config and schedule flags applied again).
    public let load: @Sendable (String) throws -> DiffusionModel

    public init(path: String, load: @escaping @Sendable (String) throws -> DiffusionModel = { try ModelLoader.open($0) }) {
        self.path = path
        self.load = load
    }
}

/// What a successful reload served.
public struct ReloadReport: Sendable {
    public let name: String
    public let path: String
    public let parameters: Int
    public let imageShape: [Int]
    public let fingerprint: String
    public let previousFingerprint: String
    public let generation: Int
    public let seconds: Double
}

/// Why a reload did not happen; `status` is the HTTP status it is answered with.
public struct ReloadError: Error, CustomStringConvertible {
    public enum Reason: Sendable {
        /// No served model has the name (404).
        case unknownModel
        /// The model was not loaded from a path (served from memory) (409).
        case notReloadable
        /// The files cannot be loaded, differ in image shape, or do not compile (422).
        case unusable
        /// The server is shutting down (503).
        case stopping
    }
    public let reason: Reason
    public let description: String

    public var status: Int {
        switch reason {
        case .unknownModel: return 404
        case .notReloadable: return 409
        case .unusable: return 422
        case .stopping: return 503
        }
    }
}

extension Engine {
    /// Loads model `name` again from its source, compiles it, and swaps it in for new requests.
    /// Logs one line and counts the result in /metrics (ok or error; an unknown name is neither).
    /// - Parameter trigger: what asked for the reload, for the log (`POST`, `SIGHUP`, `watch`).
    public func reload(_ name: String, trigger: String) throws -> ReloadReport {
        guard let old = models.first(where: { $0.name == name }) else {
            throw ReloadError(reason: .unknownModel, description: "unknown model '\(name)' (served: \(models.map(\.name).joined(separator: ", ")))")
        }
        let log = self.log
        do {
            let report = try reloadLock.withLock { try reloadSerialized(name) }
            metrics.reload(model: name, ok: true)
            log("reloaded model \(name) from \(report.path) (\(trigger)): \(report.parameters) parameters, fingerprint \(report.previousFingerprint) → \(report.fingerprint), \(String(format: "%.2f", report.seconds)) s")
            return report
        } catch let e as ReloadError {
            metrics.reload(model: name, ok: false)
            log("reload of model \(name) from \(old.source?.path ?? "memory") (\(trigger)) failed, still serving the previous version: \(e)")
            throw e
        }
    }

    /// Reloads every served model, one after another; returns each one's report or error.
    public func reloadAll(trigger: String) -> [(name: String, result: Result<ReloadReport, ReloadError>)] {
        models.map { m in
            do { return (m.name, .success(try reload(m.name, trigger: trigger))) } catch {
                return (m.name, .failure(error as? ReloadError ?? ReloadError(reason: .unusable, description: "\(error)")))
            }
        }
    }

    /// The reload proper; the caller holds `reloadLock`.
    private func reloadSerialized(_ name: String) throws -> ReloadReport {
        let clock = ContinuousClock(), begin = clock.now
        // Read after taking the lock: a reload that ran meanwhile made a newer version.
        guard let old = models.first(where: { $0.name == name }) else {
            throw ReloadError(reason: .unknownModel, description: "unknown model '\(name)'")
        }
        guard let source = old.source else {
            throw ReloadError(reason: .notReloadable, description: "model '\(name)' was not loaded from a file or folder; it cannot be reloaded")
        }
        if isStopping { throw ReloadError(reason: .stopping, description: "shutting down") }
        let model: DiffusionModel
        do { model = try source.load(source.path) } catch {
            throw ReloadError(reason: .unusable, description: "cannot load \(source.path): \(error)")
        }
        guard model.imageShape == old.model.imageShape else {
            throw ReloadError(reason: .unusable, description: "\(source.path) makes \(model.imageShape) images, the served model \(old.model.imageShape): "
                              + "a reload must keep the image shape (restart the server to change it)")
        }
        let new: ServedModel
        do {
            new = try ServedModel(name: name, model: model, cpu: old.stepper.cpu, source: source, generation: old.generation + 1)
            try compilePlans(new)
        } catch {
            throw ReloadError(reason: .unusable, description: "cannot compile \(source.path): \(error)")
        }
        guard swap(in: new) != nil else { throw ReloadError(reason: .unknownModel, description: "unknown model '\(name)'") }
        let d = (clock.now - begin).components
        return ReloadReport(name: name, path: source.path, parameters: model.graph.parameterCount, imageShape: model.imageShape,
                            fingerprint: new.fingerprint, previousFingerprint: old.fingerprint, generation: new.generation,
                            seconds: Double(d.seconds) + Double(d.attoseconds) * 1e-18)
    }
}

extension DiffusionModel {
    /// 64-bit FNV-1a (one round per 32-bit word) over the bits of every float constant, in value
    /// order, as 16 hex digits: equal weights give equal fingerprints whatever the file format.
    public var weightsFingerprint: String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for (_, value) in graph.constants.sorted(by: { $0.key < $1.key }) {
            guard case .float(let t) = value else { continue }
            let p = UnsafeRawPointer(t.pointer).assumingMemoryBound(to: UInt32.self)
            for i in 0..<t.count { h = (h ^ UInt64(p[i])) &* 0x100_0000_01b3 }
            withExtendedLifetime(t) {}
        }
        return String(format: "%016llx", h)
    }
}
