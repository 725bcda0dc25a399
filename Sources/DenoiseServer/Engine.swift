// Engine: step-level batching across requests. One thread owns the models' compiled plans. Each
// iteration it admits waiting samples into free batch slots (up to `maxBatch`), drops the samples
// of cancelled requests, and runs one U-Net forward over the active samples of one model (models
// take turns), whatever timestep each sample is at. A request completes when all its samples
// have run their last step. Samples keep their own seed stream and sampler, so an image does not
// depend on what else shared its batches (see Diffusion's BatchStepper).

import Foundation
import Diffusion
import ModelIO
import Tensors

/// A model the server serves.
public final class ServedModel: @unchecked Sendable {
    public let name: String
    public let stepper: BatchStepper
    public var model: DiffusionModel { stepper.model }

    public init(name: String, model: DiffusionModel, cpu: CPU) throws {
        self.name = name
        stepper = try BatchStepper(model: model, cpu: cpu)
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
    /// Samples handed to the batch so far (they are admitted in order).
    var admitted = 0
    var finished = 0
    /// The last step reported to `progress` (engine thread only).
    var reported = 0
    private(set) var outcome: Outcome?
    private let done = DispatchSemaphore(value: 0)
    private let lock = NSLock()

    init(model: ServedModel, jobs: [SampleJob], record: GenerationRecord, progress: (@Sendable (Int, Int) -> Void)? = nil) {
        self.model = model
        self.jobs = jobs
        self.record = record
        self.progress = progress
    }

    /// Ends the ticket once; later calls are ignored. Wakes the waiting handler.
    func end(_ o: Outcome) {
        let first = lock.withLock { () -> Bool in
            if outcome != nil { return false }
            outcome = o
            return true
        }
        if first { done.signal() }
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

    public let models: [ServedModel]
    public let limits: Limits
    let metrics: Metrics
    private let condition = NSCondition()
    private var waiting: [Ticket] = []
    private var active: [(ticket: Ticket, job: SampleJob)] = []
    private var stopping = false
    private var turn = 0
    private var thread: Thread?
    private let finished = DispatchSemaphore(value: 0)
    /// Set once every plan is compiled.
    public private(set) var ready = false

    public init(models: [ServedModel], limits: Limits, metrics: Metrics) {
        self.models = models
        self.limits = limits
        self.metrics = metrics
    }

    public enum SubmitError: Error { case queueFull, stopping }

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
        let t = Thread { [self] in
            let clock = ContinuousClock(), begin = clock.now
            do {
                for m in models { for b in ServedModel.planSizes(maxBatch: limits.maxBatch) { _ = try m.stepper.plan(batch: b) } }
                log("compiled \(ServedModel.planSizes(maxBatch: limits.maxBatch).count) batch sizes per model in \(clock.now - begin)")
            } catch {
                log("compiling the models failed: \(error)")
            }
            condition.withLock { ready = true }
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
            // Models take turns; this step runs the active samples of one of them.
            let present = models.indices.filter { i in active.contains { $0.ticket.model === models[i] } }
            guard !present.isEmpty else { condition.unlock(); continue }
            let model = models[present.first { $0 >= turn } ?? present[0]]
            turn = (models.firstIndex { $0 === model }! + 1) % models.count
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
            let k = t.jobs.lazy.map(\.step).min() ?? 0
            if k > t.reported {
                t.reported = k
                t.progress?(k, t.jobs[0].stepCount)
            }
        }
    }

    /// One forward of `jobs` on `model`, padded to the next compiled batch size.
    private func step(_ model: ServedModel, _ jobs: [SampleJob]) throws {
        try model.stepper.step(jobs, paddedTo: ServedModel.planSizes(maxBatch: limits.maxBatch).first { $0 >= jobs.count } ?? 0)
    }
}
