// Metrics: the server's counters and histograms, rendered in Prometheus' text format at /metrics.

import Foundation

/// A cumulative histogram with fixed upper bounds.
struct Histogram {
    let bounds: [Double]
    var counts: [Int]
    var sum = 0.0, count = 0

    init(bounds: [Double]) {
        self.bounds = bounds
        counts = [Int](repeating: 0, count: bounds.count)
    }

    mutating func observe(_ v: Double) {
        for (i, b) in bounds.enumerated() where v <= b { counts[i] += 1 }
        sum += v
        count += 1
    }

    func render(_ name: String, help: String) -> String {
        var s = "# HELP \(name) \(help)\n# TYPE \(name) histogram\n"
        for (b, c) in zip(bounds, counts) { s += "\(name)_bucket{le=\"\(b)\"} \(c)\n" }
        s += "\(name)_bucket{le=\"+Inf\"} \(count)\n\(name)_sum \(sum)\n\(name)_count \(count)\n"
        return s
    }
}

/// Everything /metrics reports; thread-safe.
public final class Metrics: @unchecked Sendable {
    private let lock = NSLock()
    private var requests: [String: Int] = [:]  // "route|status" → count
    private var latency = Histogram(bounds: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120])
    private var batchSizes = Histogram(bounds: [1, 2, 4, 8, 16, 32, 64, 128, 256])
    private var steps = 0, images = 0
    private var queueDepth = 0, active = 0
    private var recentSteps: [(Date, Int)] = []
    private var reloads: [String: [Bool: Int]] = [:]  // model → ok? → count
    private var logDropped = 0

    public init() {}

    func request(route: String, status: Int, seconds: Double) {
        lock.withLock {
            requests["\(route)|\(status)", default: 0] += 1
            latency.observe(seconds)
        }
    }

    /// One U-Net forward of `batch` samples, each advanced one denoising step.
    func forward(batch: Int) {
        lock.withLock {
            batchSizes.observe(Double(batch))
            steps += batch
            let now = Date()
            recentSteps.append((now, batch))
            recentSteps.removeAll { now.timeIntervalSince($0.0) > 10 }
        }
    }

    func imagesGenerated(_ n: Int) { lock.withLock { images += n } }

    /// One reload of `model`, successful or not.
    func reload(model: String, ok: Bool) { lock.withLock { reloads[model, default: [:]][ok, default: 0] += 1 } }

    /// Log lines dropped because the log's reader fell behind (`ServerLog`).
    func logLinesDropped(_ n: Int) { lock.withLock { logDropped += n } }

    func load(queued: Int, active: Int) { lock.withLock { (queueDepth, self.active) = (queued, active) } }

    /// Sample denoising steps per second over the last 10 s.
    var stepsPerSecond: Double {
        lock.withLock {
            guard let first = recentSteps.first else { return 0 }
            let span = max(Date().timeIntervalSince(first.0), 1)
            return Double(recentSteps.reduce(0) { $0 + $1.1 }) / span
        }
    }

    public func render() -> String {
        let rate = stepsPerSecond
        return lock.withLock {
            var s = "# HELP denoise_requests_total HTTP requests by route and status.\n# TYPE denoise_requests_total counter\n"
            for (key, n) in requests.sorted(by: { $0.key < $1.key }) {
                let parts = key.split(separator: "|", maxSplits: 1)
                s += "denoise_requests_total{route=\"\(parts[0])\",status=\"\(parts[1])\"} \(n)\n"
            }
            s += latency.render("denoise_request_duration_seconds", help: "Request latency.")
            s += batchSizes.render("denoise_batch_size", help: "Samples per U-Net forward.")
            s += "# HELP denoise_queue_depth Requests waiting for a batch slot.\n# TYPE denoise_queue_depth gauge\ndenoise_queue_depth \(queueDepth)\n"
            s += "# HELP denoise_active_samples Samples being denoised.\n# TYPE denoise_active_samples gauge\ndenoise_active_samples \(active)\n"
            s += "# HELP denoise_denoising_steps_total Sample denoising steps taken.\n# TYPE denoise_denoising_steps_total counter\ndenoise_denoising_steps_total \(steps)\n"
            s += "# HELP denoise_denoising_steps_per_second Sample denoising steps per second over the last 10 s.\n# TYPE denoise_denoising_steps_per_second gauge\ndenoise_denoising_steps_per_second \(rate)\n"
            s += "# HELP denoise_images_generated_total Images generated.\n# TYPE denoise_images_generated_total counter\ndenoise_images_generated_total \(images)\n"
            s += "# HELP denoise_log_lines_dropped_total Log lines dropped because the log's reader fell behind.\n# TYPE denoise_log_lines_dropped_total counter\ndenoise_log_lines_dropped_total \(logDropped)\n"
            s += "# HELP denoise_model_reloads_total Model reloads by result.\n# TYPE denoise_model_reloads_total counter\n"
            for (model, counts) in reloads.sorted(by: { $0.key < $1.key }) {
                for (ok, n) in counts.sorted(by: { $0.key && !$1.key }) {
                    s += "denoise_model_reloads_total{model=\"\(Self.label(model))\",result=\"\(ok ? "ok" : "error")\"} \(n)\n"
                }
            }
            return s
        }
    }

    /// `value` escaped for a Prometheus label (backslash, quote, newline).
    static func label(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }
}
