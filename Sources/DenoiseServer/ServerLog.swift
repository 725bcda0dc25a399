// ServerLog: the server's log lines, written to a file descriptor (stderr) by a thread of their
// own, so no request or engine step ever waits for the log. A reader that stops reading (a pipe
// nobody drains, a suspended terminal) then costs log lines, never answers: beyond `capacity`
// pending bytes new lines are dropped and counted, and once the descriptor takes data again the
// log says how many were lost. Measured before it existed: a server whose stderr pipe was not
// read stopped answering every request, /healthz included, once 64 KiB of access log had piled
// up (all connection threads blocked in write(2)).

import Foundation

public final class ServerLog: @unchecked Sendable {
    private let fd: Int32
    private let capacity: Int
    private let metrics: Metrics?
    private let condition = NSCondition()
    private var pending: [String] = []  // stamped lines, each ending in a newline
    private var pendingBytes = 0
    private var dropped = 0             // lines dropped since the last write
    private var writing = false
    private var droppedTotal = 0

    /// A log writing to `fd` (default: standard error) with at most `capacity` bytes waiting;
    /// dropped lines are also counted in `metrics`.
    public init(fd: Int32 = STDERR_FILENO, capacity: Int = 1 << 20, metrics: Metrics? = nil) {
        self.fd = fd
        self.capacity = capacity
        self.metrics = metrics
        // The writer thread holds the log for the life of the process (a server has one).
        let thread = Thread { self.run() }
        thread.name = "denoise-log"
        thread.start()
    }

    /// Queues `message` with a timestamp; never blocks on the descriptor.
    public func callAsFunction(_ message: String) {
        let line = "\(Self.stamp()) \(message)\n"
        condition.withLock {
            if pendingBytes + line.utf8.count > capacity && !pending.isEmpty {
                dropped += 1
                droppedTotal += 1
                metrics?.logLinesDropped(1)
                return
            }
            pending.append(line)
            pendingBytes += line.utf8.count
            condition.signal()
        }
    }

    /// Lines dropped so far because the descriptor did not keep up.
    public var droppedLines: Int { condition.withLock { droppedTotal } }

    /// Waits until every queued line is written, or `timeout` seconds pass; true when written.
    @discardableResult
    public func flush(timeout: Double) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout)
        return condition.withLock {
            while !pending.isEmpty || dropped > 0 || writing {
                if !condition.wait(until: deadline) { return false }
            }
            return true
        }
    }

    private func run() {
        while true {
            condition.lock()
            while pending.isEmpty && dropped == 0 { condition.wait() }
            var text = pending.joined()
            if dropped > 0 {
                text += "\(Self.stamp()) (\(dropped) log line\(dropped == 1 ? "" : "s") dropped: the log's reader fell behind)\n"
            }
            pending.removeAll(keepingCapacity: true)
            pendingBytes = 0
            dropped = 0
            writing = true
            condition.unlock()
            write(text)
            condition.withLock {
                writing = false
                condition.broadcast()
            }
        }
    }

    /// Writes all of `text`, retrying short writes and interruptions; gives up on other errors
    /// (a closed pipe: the lines are lost, the server goes on).
    private func write(_ text: String) {
        var bytes = Array(text.utf8)
        bytes.withUnsafeMutableBytes { buffer in
            var done = 0
            while done < buffer.count {
                let n = Foundation.write(fd, buffer.baseAddress! + done, buffer.count - done)
                if n > 0 { done += n } else if n < 0 && errno == EINTR { continue } else { return }
            }
        }
    }

    private static func stamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
                      Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), Int(now.tv_nsec / 1_000_000))
    }
}
