// denoise serve: the HTTP server (DenoiseServer) over one or more models.

import ArgumentParser
import DenoiseServer
import Diffusion
import Dispatch
import Foundation
import ModelIO
import Tensors

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve models over HTTP: GET /generate?steps=50 returns a PNG; POST /v1/generate takes and returns JSON.",
        discussion: """
            Routes: /generate (steps, n, seed, sampler, eta, timestep_spacing, clip_sample, rederive_noise, model, class, \
            stream), POST /v1/generate (the same parameters as a JSON object; one base64 PNG per sample), \
            /healthz, /readyz, /metrics (Prometheus), /v1/models. stream=1 (or Accept: text/event-stream on POST) \
            answers Server-Sent Events: progress per step, then the images. Samples of all requests share each U-Net forward, \
            whatever step each is at; the same parameters and seed give the same PNG bytes as `denoise generate`. \
            The schedule and sampler-default flags apply to every served model (e.g. --scheduler-config for ONNX \
            files without schedule metadata). SIGINT/SIGTERM stop accepting, let running requests finish (up to \
            30 s), then exit. POST /v1/models/NAME/reload or SIGHUP (every model) loads models again from their \
            paths with the same flags, for new requests; running requests finish on the old weights; a reload that \
            fails keeps the old model. --watch reloads a model when its files change. See docs/openapi.yaml.
            """)

    @Argument(help: "Models to serve (ONNX files, native or diffusers folders); named by file or folder name. Default: the shipped \(DefaultModel.name) model.")
    var models: [String] = []

    @Option(help: "Address to listen on (IPv4 or IPv6 literal).")
    var host = "127.0.0.1"

    @Option(help: "Port (0: any free port).")
    var port = 8080

    @Option(help: "Most samples in one U-Net forward.")
    var maxBatch = 32

    @Option(help: "Most requests waiting for a batch slot; more get 503.")
    var maxQueue = 64

    @Option(help: "Most denoising steps a request may ask for.")
    var maxSteps = 1000

    @Option(help: "Most images per request.")
    var maxN = 16

    @Option(help: "Seconds a /generate request may take before it is cancelled (504).")
    var timeout = 300.0

    @Option(help: "Most bytes of a request body (POST /v1/generate); larger ones get 413.")
    var maxBody = 8 << 20

    @Option(help: "Most bytes of a request target (path and query); longer ones get 414.")
    var maxUrl = 8192

    @Option(help: "Seconds a client may take to send a whole request (408 after), and to stay idle between requests.")
    var requestTimeout = 30.0

    @Option(help: "Threads (default: all cores).")
    var threads: Int?

    @Option(help: "Require this key (Authorization: Bearer KEY, or X-API-Key) on every route but /healthz and /readyz. Also read from DENOISE_API_KEY.")
    var apiKey: String?

    @Flag(help: "Reload a model when its files change (polled every --watch-interval seconds).")
    var watch = false

    @Option(help: "Seconds between polls of --watch.")
    var watchInterval = 1.0

    @OptionGroup(title: "Noise schedule (overrides every served model's)")
    var schedule: ScheduleFlags

    @OptionGroup(title: "Sampler defaults (override every served model's)")
    var sampling: SamplingFlags

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0…65535, got \(port)") }
        guard (1...1024).contains(maxBatch) else { throw ValidationError("--max-batch must be 1…1024, got \(maxBatch)") }
        guard maxQueue >= 0 else { throw ValidationError("--max-queue must be at least 0, got \(maxQueue)") }
        guard maxSteps >= 1 else { throw ValidationError("--max-steps must be at least 1, got \(maxSteps)") }
        guard (1...1024).contains(maxN) else { throw ValidationError("--max-n must be 1…1024, got \(maxN)") }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive, got \(timeout)") }
        guard watchInterval > 0 else { throw ValidationError("--watch-interval must be positive, got \(watchInterval)") }
        guard maxBody >= 0 else { throw ValidationError("--max-body must be at least 0, got \(maxBody)") }
        guard (256...(1 << 20)).contains(maxUrl) else { throw ValidationError("--max-url must be 256…1048576, got \(maxUrl)") }
        guard requestTimeout > 0 else { throw ValidationError("--request-timeout must be positive, got \(requestTimeout)") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
    }

    func run() throws {
        let cpu = CPU(threads: threads)
        let paths = models.isEmpty ? [try DefaultModel.path()] : models
        var served: [ServedModel] = []
        // The same flags apply at every reload (a --scheduler-config file is read again).
        let (schedule, sampling) = (UncheckedFlags(self.schedule), UncheckedFlags(self.sampling))
        let load: @Sendable (String) throws -> DiffusionModel = { path in
            var model = try ModelLoader.open(path)
            model.schedule = sampling.value.applied(to: try schedule.value.applied(to: model.schedule))
            return model
        }
        for path in paths {
            let name = GenerationRecord.modelName(path: path)
            guard !served.contains(where: { $0.name == name }) else { throw ValidationError("two models are named '\(name)'; serve them from differently named files or folders") }
            let source = ModelSource(path: path, load: load)
            served.append(try ServedModel(name: name, model: try load(path), cpu: cpu, source: source))
        }
        var options = ServerOptions()
        options.host = host
        options.port = UInt16(port)
        options.maxSteps = maxSteps
        options.maxN = maxN
        options.timeout = timeout
        options.maxBody = maxBody
        options.maxURL = maxUrl
        options.requestTimeout = requestTimeout
        options.apiKey = apiKey ?? ProcessInfo.processInfo.environment["DENOISE_API_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        var limits = Engine.Limits()
        limits.maxBatch = maxBatch
        limits.maxQueue = maxQueue
        let metrics = Metrics()
        let engine = Engine(models: served, limits: limits, metrics: metrics)
        // The log never blocks a request (ServerLog); a closed stderr costs log lines, not the server.
        signal(SIGPIPE, SIG_IGN)
        let serverLog = ServerLog(metrics: metrics)
        defer { serverLog.flush(timeout: 5) }  // on errors too: the lines before one explain it
        let log: @Sendable (String) -> Void = { serverLog($0) }
        log("denoise serve: ISA \(CPU.vectorISA), GEMM \(CPU.gemmKernel), \(cpu.threads) threads")
        for m in served {
            let s = m.model.schedule
            log("model \(m.name): image \(m.model.imageShape), \(m.model.graph.parameterCount) parameters, \(s.betaSchedule.rawValue) schedule over \(s.numTrainTimesteps) steps, \(s.predictionType.rawValue)")
        }
        let server = HTTPServer(engine: engine, metrics: metrics, options: options, log: log)
        try server.start()
        log("listening on http://\(host.contains(":") ? "[\(host)]" : host):\(server.port) (max batch \(maxBatch), max queue \(maxQueue)\(options.apiKey == nil ? "" : ", API key required"))")
        engine.start(log: log)
        let watcher = watch ? ModelWatcher(engine: engine, interval: watchInterval) : nil
        watcher?.start()
        if watch { log("watching \(paths.count) model(s) for changes every \(watchInterval) s") }

        // SIGHUP: reload every model (each logs its own line).
        signal(SIGHUP, SIG_IGN)
        let hangup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: DispatchQueue(label: "denoise-sighup"))
        hangup.setEventHandler { _ = engine.reloadAll(trigger: "SIGHUP") }
        hangup.resume()

        // SIGINT/SIGTERM: stop accepting, let running requests finish, then exit.
        let stop = DispatchSemaphore(value: 0)
        var sources: [DispatchSourceSignal] = []
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { stop.signal() }
            source.resume()
            sources.append(source)
        }
        stop.wait()
        log("stopping: no new requests; finishing \(engine.load.active) active and \(engine.load.queued) waiting")
        hangup.cancel()
        watcher?.stop()
        server.quiesce()
        engine.drain(grace: 30)
        engine.stop(reason: "server shutting down")
        server.stop()
        log("stopped")
        withExtendedLifetime(sources) {}
    }
}

/// Parsed flags (plain values behind argument-parser's property wrappers, never mutated after
/// parsing) shared with the reload closure, which runs on other threads.
private struct UncheckedFlags<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
