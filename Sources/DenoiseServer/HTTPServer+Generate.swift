// HTTPServer+Generate: the generation routes. GET /generate answers one PNG (a grid for n>1);
// POST /v1/generate answers JSON with one PNG per sample; either answers Server-Sent Events when
// asked (`stream=1`, or `Accept: text/event-stream` on POST). All three validate through
// GenerateRequest, make jobs with BatchStepper.jobs (as `denoise generate` does), hand one Ticket
// to the Engine, and encode through GenerationRecord, so sample i's PNG is the bytes
// `denoise generate --out DIR` writes as DIR/00000i.png. A client that hangs up, or a request past
// --timeout, ends its ticket: its samples leave the batch at the next step.
// Not here: batching (Engine.swift), the HTTP glue (HTTPServer+MHD.swift).

import CMicroHTTPD
import Diffusion
import Foundation
import Imaging

/// A generation the engine accepted: the validated request, its jobs and ticket.
struct Generation {
    let request: GenerateRequest
    let jobs: [SampleJob]
    let record: GenerationRecord
    let ticket: Ticket
    /// When the request is cancelled with 504 (`ServerOptions.timeout`).
    let deadline: Date

    /// Each sample's PNG, exactly as `denoise generate --out` writes it.
    func samplePNGs() throws -> [Data] {
        try jobs.indices.map { i in try record.png(SampleImages.image(jobs[i].x, index: 0), sample: i) }
    }

    /// GET /generate's PNG: the sample itself for n=1, else the grid `denoise generate --grid` writes.
    func responsePNG() throws -> Data {
        let images = try jobs.map { try SampleImages.image($0.x, index: 0) }
        return jobs.count == 1 ? try record.png(images[0], sample: 0) : try record.gridPNG(images)
    }

    /// The parameters actually used (the seed drawn when none was given, the sampler defaults).
    var parameters: [String: Any] {
        let s = record.sampler
        var p: [String: Any] = ["model": record.model, "n": jobs.count, "seed": record.seed, "steps": s.steps,
                                "sampler": s.kind.rawValue, "eta": s.eta, "timestep_spacing": s.spacing.rawValue,
                                "clip_sample": s.clipSample, "rederive_noise": s.rederiveNoise,
                                "prediction_type": s.prediction.rawValue]
        if !record.classLabels.isEmpty { p["classes"] = record.classLabels }
        return p
    }

    /// Every sample's seed (sample i is Philox stream i of it).
    var seeds: [UInt64] { jobs.map(\.seed) }
}

extension HTTPServer {
    enum GenerationFormat { case png, json, events }

    func generateFromQuery(_ r: IncomingRequest) -> Response {
        do {
            let request = try GenerateRequest(query: r.query, models: engine.models, options: options)
            return generate(request, format: request.stream ? .events : .png, socket: r.socket)
        } catch { return .error((error as? RequestError)?.status ?? 400, "\(error)") }
    }

    /// POST /v1/generate: a JSON object, or a `multipart/form-data` form (files for init_image and mask).
    func generateFromJSON(_ r: IncomingRequest) -> Response {
        do {
            let request = try GenerateRequest(body: r.body, contentType: r.header("Content-Type"), models: engine.models, options: options)
            let events = request.stream || (r.header("Accept")?.contains("text/event-stream") ?? false)
            return generate(request, format: events ? .events : .json, socket: r.socket)
        } catch { return .error((error as? RequestError)?.status ?? 400, "\(error)") }
    }

    /// Submits `request`; answers a stream at once, or waits for the ticket and answers the images.
    private func generate(_ request: GenerateRequest, format: GenerationFormat, socket: Int32) -> Response {
        if isStopping { return .error(503, "shutting down", headers: [("Retry-After", "5")]) }
        let model = request.model
        let jobs: [SampleJob], generationOptions: GenerationOptions
        do {
            var o = GenerationOptions(count: request.n, seed: request.seed, sampler: request.sampler)
            o.classLabels = request.classLabels
            o.guidanceScale = request.guidanceScale
            if let image = request.image { (o.initImage, o.strength, o.mask, o.jumps) = image }
            generationOptions = o
            jobs = try model.stepper.jobs(o, samples: 0..<request.n)
        } catch let error as DiffusionError {
            return .error(400, "\(error)")  // a request the sampler cannot run (e.g. a strength that leaves no step)
        } catch { return .error(500, "cannot start generation: \(error)") }
        let record = GenerationRecord(model: model.name, request: generationOptions, jobs: jobs)
        let stream = format == .events ? EventStream(socket: socket, metrics: metrics, timeout: options.timeout) : nil
        var progress: (@Sendable (Int, Int) -> Void)?, ended: (@Sendable () -> Void)?
        if let stream { (progress, ended) = ({ k, steps in stream.progress(k, steps) }, { stream.wake() }) }
        let ticket = Ticket(model: model, jobs: jobs, record: record, progress: progress, ended: ended)
        let generation = Generation(request: request, jobs: jobs, record: record, ticket: ticket,
                                    deadline: Date().addingTimeInterval(options.timeout))
        stream?.generation = generation
        do { try engine.submit(ticket) } catch Engine.SubmitError.queueFull {
            return .error(503, "queue full (\(engine.limits.maxQueue) requests waiting); retry later", headers: [("Retry-After", "1")])
        } catch {
            return .error(503, "shutting down", headers: [("Retry-After", "5")])
        }
        if let stream {
            return Response(status: 200, contentType: "text/event-stream",
                            headers: [("Cache-Control", "no-cache"), ("X-Accel-Buffering", "no")], stream: stream)
        }
        while true {
            if let outcome = ticket.wait(seconds: 0.05) {
                switch outcome {
                case .done: return answer(generation, format: format)
                case .cancelled(let why): return .error(503, "cancelled: \(why)", headers: [("Retry-After", "5")])
                case .failed(let why): return .error(500, why)
                }
            }
            if socket >= 0 && dn_peer_closed(socket) != 0 {
                ticket.end(.cancelled("client disconnected"))
                return .error(499, "client disconnected")
            }
            if Date() >= generation.deadline {
                ticket.end(.cancelled("timeout"))
                return .error(504, "generation took longer than the \(options.timeout) s timeout")
            }
        }
    }

    private func answer(_ g: Generation, format: GenerationFormat) -> Response {
        do {
            switch format {
            case .png:
                let png = try g.responsePNG()
                metrics.imagesGenerated(g.jobs.count)
                let labels = g.record.classLabels
                let classes = labels.isEmpty ? [] : [("X-Classes", labels.map(String.init).joined(separator: ","))]
                return Response(status: 200, contentType: "image/png", body: png, headers: [("X-Seed", "\(g.record.seed)")] + classes)
            case .json, .events:
                let images = try g.samplePNGs().map { $0.base64EncodedString() }
                metrics.imagesGenerated(g.jobs.count)
                return .json(200, ["images": images, "seeds": g.seeds, "parameters": g.parameters])
            }
        } catch {
            return .error(500, "cannot encode the PNG: \(error)")
        }
    }
}

/// One generation's Server-Sent Events, produced by the engine's progress hook and the ticket's
/// end, consumed by libmicrohttpd's content reader on the connection's thread:
/// `progress` {"step", "steps"} per step, then `image` {"index", "seed", "png"} per sample and
/// `done` {"parameters", "seeds"}; or `error` {"error", "status"}.
final class EventStream: @unchecked Sendable {
    /// Guards `pending` and `finished`.
    private let condition = NSCondition()
    private var pending: [UInt8] = []
    private var finished = false
    /// Set once before the ticket is submitted, then only read.
    var generation: Generation?
    let socket: Int32
    let metrics: Metrics
    let timeout: Double

    init(socket: Int32, metrics: Metrics, timeout: Double) {
        self.socket = socket
        self.metrics = metrics
        self.timeout = timeout
    }

    /// When the reader was last woken for progress events (guarded by `condition`).
    private var lastWake = 0.0

    /// The engine's progress hook. Events are queued at once but the reader is woken at most every
    /// 30 ms for them (its own 50 ms poll picks up the rest): on a machine with few cores, waking
    /// the connection's thread at every step would take a core from the forward's workers
    /// (measured on 2 cores, 20 steps of the default model: 60 ms in GET /generate, up to 120 ms
    /// streamed with a wake per step).
    func progress(_ step: Int, _ steps: Int) { append("progress", ["step": step, "steps": steps], urgent: step == steps) }

    private func append(_ event: String, _ object: Any, urgent: Bool = true) {
        let text = "event: \(event)\ndata: " + String(decoding: jsonData(object), as: UTF8.self) + "\n\n"
        let now = ProcessInfo.processInfo.systemUptime
        condition.withLock {
            pending += Array(text.utf8)
            if urgent || now - lastWake >= 0.03 {
                lastWake = now
                condition.signal()
            }
        }
    }

    /// The ticket ended: the reader writes the final events now rather than at its next poll.
    func wake() { condition.withLock { condition.signal() } }

    /// The final events for `outcome`; afterwards the stream ends.
    private func finish(_ g: Generation, _ outcome: Ticket.Outcome) {
        switch outcome {
        case .done:
            do {
                let pngs = try g.samplePNGs()
                for (i, png) in pngs.enumerated() {
                    append("image", ["index": i, "seed": g.jobs[i].seed, "png": png.base64EncodedString()])
                }
                metrics.imagesGenerated(pngs.count)
                append("done", ["parameters": g.parameters, "seeds": g.seeds])
            } catch {
                append("error", ["error": "cannot encode the PNG: \(error)", "status": 500])
            }
        case .cancelled("timeout"):
            append("error", ["error": "generation took longer than the \(timeout) s timeout", "status": 504])
        case .cancelled(let why): append("error", ["error": "cancelled: \(why)", "status": 503])
        case .failed(let why): append("error", ["error": why, "status": 500])
        }
        condition.withLock { finished = true }
    }

    /// libmicrohttpd's content reader: copies up to `capacity` bytes of events into `buffer`,
    /// blocking until there are some. -1: the stream ended; -2: the client hung up (the ticket is
    /// cancelled).
    func read(into buffer: UnsafeMutablePointer<CChar>, capacity: Int) -> Int {
        while true {
            if let g = generation, Date() >= g.deadline, !g.ticket.isEnded { g.ticket.end(.cancelled("timeout")) }
            condition.lock()
            if !pending.isEmpty {
                let n = min(capacity, pending.count)
                pending.withUnsafeBytes { raw in UnsafeMutableRawPointer(buffer).copyMemory(from: raw.baseAddress!, byteCount: n) }
                pending.removeFirst(n)
                condition.unlock()
                return n
            }
            if finished { condition.unlock(); return -1 }
            // Checked under the lock `wake()` takes, so an end between this check and the wait
            // still wakes the wait.
            if generation?.ticket.isEnded != true { _ = condition.wait(until: Date().addingTimeInterval(0.05)) }
            let idle = pending.isEmpty
            condition.unlock()
            guard idle, let g = generation else { continue }
            if let outcome = g.ticket.currentOutcome {
                finish(g, outcome)
            } else if socket >= 0 && dn_peer_closed(socket) != 0 {
                g.ticket.end(.cancelled("client disconnected"))
                return -2
            }
        }
    }

    /// The connection is gone (libmicrohttpd freed the response): nobody reads the samples any more.
    func close() { generation?.ticket.end(.cancelled("client disconnected")) }
}
