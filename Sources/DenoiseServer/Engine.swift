// Engine: step-level batching across requests. One thread owns the models' compiled plans. Each
// iteration it admits waiting samples into free batch slots (up to `maxBatch`), drops the samples
// of cancelled requests, and runs one U-Net forward over the active samples of one model (models
// take turns), whatever timestep each sample is at. A request completes when all its samples
// have run their last step. Samples keep their own seed stream and sampler, so an image does not
// depend on what else shared its batches (see Diffusion's BatchStepper). A model can be swapped
// for a reloaded version (`swap`, driven by ModelReload.swift): a ticket keeps the ServedModel it
// was created with, so requests already queued or running finish on the old weights while new
// ones get the new; the old version is freed with its last ticket.

import Foundation
import Diffusion
import ModelIO
import Tensors

/// A model the server serves: one version of it (a reload makes a new ServedModel of the same
/// name). Immutable after init except for the stepper's plan cache, which only the thread that
/// owns this version touches (the reloading thread before the swap, the engine thread after).
public final class ServedModel: @unchecked Sendable {
    public let name: String
    public let stepper: BatchStepper
    /// Where the model was loaded from and how, to load it again; nil: not reloadable.
    public let source: ModelSource?
    /// 0 for the version served at startup, +1 per reload.
    public let generation: Int
    /// FNV-1a over the bits of every float constant (see `DiffusionModel.weightsFingerprint`).
    public let fingerprint: String
    public var model: DiffusionModel { stepper.model }

    public init(name: String, model: DiffusionModel, cpu: CPU, source: ModelSource? = nil, generation: Int = 0) throws {
        self.name = name
        self.source = source
        self.generation = generation
        stepper = try BatchStepper(model: model, cpu: cpu)
        fingerprint = model.weightsFingerprint
    }

    /// Batch sizes compiled: 1…4, then multiples of 4 up to `maxBatch`; a batch in between runs
    /// on the next size up (see ``BatchStepper/step(_:paddedTo:)``).
    static func planSizes(maxBatch: Int) -> [Int] {
        var sizes = Array(1...min(4, maxBatch))
        sizes += stride(from: 8, through: maxBatch, by: 4)
        if sizes.last != maxBatch { sizes.append(maxBatch) }
        return sizes
    }
}

/// One /generate request in the engine: its samples and how it ended.
public final class Ticket: @unchecked Sendable {
    public enum Outcome: Sendable { case done, cancelled(String), failed(String) }

    let model: ServedModel
    let jobs: [SampleJob]
    let record: GenerationRecord
    /// Called on the engine thread after a forward that moved this request on: `(k, S)`, the
    /// steps finished by its slowest sample and the steps per sample, so k runs 1…S exactly once
    /// each (samples admitted together move in lockstep). Keep it short: the engine waits for it.
    let progress: (@Sendable (_ step: Int, _ steps: Int) -> Void)?
    /// Called once when the ticket ends (on the thread that ends it), e.g. to wake an event stream.
    let ended: (@Sendable () -> Void)?
    /// Samples handed to the batch so far (they are admitted in order).
    var admitted = 0
    var finished = 0
    /// The last step reported to `progress` (engine thread only).
    var reported = 0
    private(set) var outcome: Outcome?
    private let done = DispatchSemaphore(value: 0)
    private let lock = NSLock()

    init(model: ServedModel, jobs: [SampleJob], record: GenerationRecord, progress: (@Sendable (Int, Int) -> Void)? = nil,
         ended: (@Sendable () -> Void)? = nil) {
        self.model = model
        self.jobs = jobs
        self.record = record
        self.progress = progress
        self.ended = ended
    }

    /// Ends the ticket once; later calls are ignored. Wakes the waiting handler.
    func end(_ o: Outcome) {
        let first = lock.withLock { () -> Bool in
            if outcome != nil { return false }
            outcome = o
            return true
        }
        if first {
            done.signal()
            ended?()
        }
    }

    var isEnded: Bool { lock.withLock { outcome != nil } }

    /// The outcome so far, without waiting (nil while running).
    var currentOutcome: Outcome? { lock.withLock { outcome } }

    /// Waits up to `seconds` for the outcome (one waiter: the request's handler).
    func wait(seconds: Double) -> Outcome? {
        if done.wait(timeout: .now() + seconds) == .timedOut { return nil }
        return lock.withLock { outcome }
    }
}

public final class Engine: @unchecked Sendable {
    public struct Limits: Sendable {
        public var maxBatch = 32
        /// Requests allowed to wait for a batch slot; more are refused (503).
        public var maxQueue = 64
        public init() {}
    }

    public let limits: Limits
    let metrics: Metrics
    /// Guards `current`, `waiting`, `active`, `stopping`, `lastTurn`, `thread`, `compiled` and `log`;
    /// signalled when work arrives or the engine stops.
    private let condition = NSCondition()
    /// The version of each model new requests get, in serving order.
    private var current: [ServedModel]
    private var waiting: [Ticket] = []
    private var active: [(ticket: Ticket, job: SampleJob)] = []
    private var stopping = false
    /// (serving index, generation) of the model version the last step ran.
    private var lastTurn: (Int, Int)?
    /// Serializes reloads (ModelReload.swift), so two never load the same model at once.
    let reloadLock = NSLock()
    private var logger: @Sendable (String) -> Void = { _ in }
    private var thread: Thread?
    private let finished = DispatchSemaphore(value: 0)
    /// Set once every plan is compiled.
    /// Whether the plans are compiled (written by the engine thread under `condition`).
    private var compiled = false
    /// Whether the plans are compiled and requests are served (read under the lock: the server's
    /// threads ask while the engine thread sets it — ThreadSanitizer found the unlocked read).
    public var ready: Bool { condition.withLock { compiled } }

    public init(models: [ServedModel], limits: Limits, metrics: Metrics) {
        precondition(!models.isEmpty, "Engine: no models")
        current = models
        self.limits = limits
        self.metrics = metrics
    }

    public enum SubmitError: Error { case queueFull, stopping }

    /// The version of each model that new requests get.
    public var models: [ServedModel] { condition.withLock { current } }

    var isStopping: Bool { condition.withLock { stopping } }

    /// The log `start` was given.
    var log: @Sendable (String) -> Void { condition.withLock { logger } }

    /// Makes `new` the version of its model (by name) that new requests get; tickets holding the
    /// previous version finish on it. Returns the previous version, or nil when no model has
    /// that name (nothing changes then). `new` must have its plans compiled (or compile them on
    /// first use on the engine thread).
    @discardableResult
    func swap(in new: ServedModel) -> ServedModel? {
        condition.withLock {
            guard let i = current.firstIndex(where: { $0.name == new.name }) else { return nil }
            defer { current[i] = new }
            return current[i]
        }
    }

    /// Queues a ticket; throws when the queue is full or the engine is stopping.
    func submit(_ ticket: Ticket) throws {
        condition.lock()
        defer { condition.unlock() }
        if stopping { throw SubmitError.stopping }
        if waiting.count >= limits.maxQueue { throw SubmitError.queueFull }
        waiting.append(ticket)
        metrics.load(queued: waiting.count, active: active.count)
        condition.signal()
    }

    /// Compiles every model's plans, then runs the loop on its own thread.
    public func start(log: @escaping @Sendable (String) -> Void) {
        condition.withLock { logger = log }
        let models = self.models
        let t = Thread { [self] in
            let clock = ContinuousClock(), begin = clock.now
            do {
                for m in models { try compilePlans(m) }
                log("compiled \(ServedModel.planSizes(maxBatch: limits.maxBatch).count) batch sizes per model in \(clock.now - begin)")
            } catch {
                log("compiling the models failed: \(error)")
            }
            condition.withLock { compiled = true }
            loop()
            finished.signal()
        }
        t.name = "denoise-engine"
        t.stackSize = 16 << 20
        thread = t
        t.start()
    }

    /// Stops admitting; cancels waiting and active requests with `reason`, and waits for the loop
    /// to exit. Safe to call more than once.
    public func stop(reason: String) {
        condition.withLock {
            stopping = true
            condition.signal()
        }
        let running = condition.withLock { () -> Bool in
            defer { thread = nil }
            return thread != nil
        }
        if running { finished.wait() }
        for t in waiting { t.end(.cancelled(reason)) }
        for a in active { a.ticket.end(.cancelled(reason)) }
    }

    /// Stops admitting new requests and waits up to `grace` seconds for the active and waiting ones.
    public func drain(grace: Double) {
        let deadline = Date().addingTimeInterval(grace)
        while Date() < deadline {
            let busy = condition.withLock { !waiting.isEmpty || !active.isEmpty }
            if !busy { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    public var load: (queued: Int, active: Int) { condition.withLock { (waiting.count, active.count) } }

    /// Compiles every batch size the engine runs `model` at. Call on the thread that owns `model`.
    func compilePlans(_ model: ServedModel) throws {
        for b in ServedModel.planSizes(maxBatch: limits.maxBatch) { _ = try model.stepper.plan(batch: b) }
    }

    private func loop() {
        while true {
            condition.lock()
            while !stopping && waiting.isEmpty && active.isEmpty { condition.wait() }
            if stopping { condition.unlock(); return }
            // Drop ended (cancelled, timed out, disconnected) requests, then fill free slots in arrival order.
            active.removeAll { $0.ticket.isEnded }
            waiting.removeAll { $0.isEnded }
            while active.count < limits.maxBatch, let t = waiting.first {
                active.append((t, t.jobs[t.admitted]))
                t.admitted += 1
                if t.admitted == t.jobs.count { waiting.removeFirst() }
            }
            // Model versions take turns (in serving order, older versions of a reloaded model
            // before newer); this step runs the active samples of one of them.
            var present: [(key: (Int, Int), model: ServedModel)] = []
            for entry in active where !present.contains(where: { $0.model === entry.ticket.model }) {
                let m = entry.ticket.model
                present.append(((current.firstIndex { $0.name == m.name } ?? 0, m.generation), m))
            }
            present.sort { $0.key < $1.key }
            guard !present.isEmpty else { condition.unlock(); continue }
            let next = lastTurn.flatMap { last in present.first { $0.key > last } } ?? present[0]
            lastTurn = next.key
            let model = next.model
            let batch = active.filter { $0.ticket.model === model }
            metrics.load(queued: waiting.count, active: active.count)
            condition.unlock()

            do {
                try step(model, batch.map(\.job))
                metrics.forward(batch: batch.count)
                report(batch.map(\.ticket))
            } catch {
                for entry in batch { entry.ticket.end(.failed("generation failed: \(error)")) }
            }
            condition.withLock {
                for entry in batch where entry.job.isDone {
                    entry.ticket.finished += 1
                    if entry.ticket.finished == entry.ticket.jobs.count { entry.ticket.end(.done) }
                }
                active.removeAll { $0.job.isDone || $0.ticket.isEnded }
                metrics.load(queued: waiting.count, active: active.count)
            }
        }
    }

    /// Tells each of `tickets` (repeats allowed) with a progress hook how far its slowest sample is.
    private func report(_ tickets: [Ticket]) {
        var seen = Set<ObjectIdentifier>()
        for t in tickets where t.progress != nil && seen.insert(ObjectIdentifier(t)).inserted {
            // Model evaluations, not sampler steps: RePaint jumps redo steps.
            let k = t.jobs.lazy.map(\.evaluations).min() ?? 0
            if k > t.reported {
                t.reported = k
                t.progress?(k, t.jobs[0].evaluationCount)
            }
        }
    }

    /// One forward of `jobs` on `model`, padded to the next compiled batch size.
    private func step(_ model: ServedModel, _ jobs: [SampleJob]) throws {
        try model.stepper.step(jobs, paddedTo: ServedModel.planSizes(maxBatch: limits.maxBatch).first { $0 >= BatchStepper.rows(jobs) } ?? 0)
    }
}
