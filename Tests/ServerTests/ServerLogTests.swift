// ServerLog on a real pipe: lines arrive stamped and in order; when nobody reads, logging still
// returns at once, lines beyond the capacity are dropped and counted (in the log once the pipe
// drains, and in /metrics), and every line is either written or counted as dropped.

import Foundation
import Testing
@testable import DenoiseServer

@Suite struct ServerLogTests {
    /// Reads everything from `fd` on a thread of its own until `stop` is set and the pipe is empty.
    private final class PipeReader: @unchecked Sendable {
        private let lock = NSLock()
        private var data = Data()
        private let done = DispatchSemaphore(value: 0)

        init(fd: Int32) {
            Thread.detachNewThread { [self] in
                var buffer = [UInt8](repeating: 0, count: 65536)
                while true {
                    let n = read(fd, &buffer, buffer.count)
                    if n <= 0 { break }
                    lock.withLock { data.append(contentsOf: buffer[0..<n]) }
                }
                done.signal()
            }
        }

        /// The text read once the writing end is closed.
        func finish() -> String {
            done.wait()
            return lock.withLock { String(decoding: data, as: UTF8.self) }
        }
    }

    @Test func linesArriveStampedAndInOrder() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let reader = PipeReader(fd: fds[0])
        let log = ServerLog(fd: fds[1])
        for i in 0..<1000 { log("line \(i)") }
        #expect(log.flush(timeout: 30))
        close(fds[1])
        let lines = reader.finish().split(separator: "\n")
        close(fds[0])
        #expect(lines.count == 1000)
        for (i, line) in lines.enumerated() {
            let parts = line.split(separator: " ", maxSplits: 1)
            // 2026-11-30T19:00:00.123Z
            #expect(parts.count == 2 && parts[0].count == 24 && parts[0].hasSuffix("Z") && parts[1] == "line \(i)", "\(line)")
        }
        #expect(log.droppedLines == 0)
    }

    @Test func aStalledReaderCostsLinesNotCallers() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let metrics = Metrics()
        let log = ServerLog(fd: fds[1], capacity: 4096, metrics: metrics)
        // Nobody reads: the pipe (64 KiB) and then the 4 KiB queue fill; every call still returns.
        let total = 20_000
        for i in 0..<total { log("request \(i) answered") }
        let dropped = log.droppedLines
        #expect(dropped > 0 && dropped < total)
        #expect(metrics.render().contains("denoise_log_lines_dropped_total \(dropped)\n"))
        #expect(!log.flush(timeout: 0.2), "flush cannot finish while the pipe is full")

        let reader = PipeReader(fd: fds[0])
        #expect(log.flush(timeout: 30))
        log("after")
        #expect(log.flush(timeout: 30))
        close(fds[1])
        let text = reader.finish()
        close(fds[0])
        let lines = text.split(separator: "\n").map { $0.split(separator: " ", maxSplits: 1)[1] }
        // Written lines keep their order; each gap is one drop notice; written + dropped = total.
        var written = 0, noticed = 0, next = 0
        for line in lines.dropLast() {
            if line.hasPrefix("request ") {
                let i = Int(line.split(separator: " ")[1])!
                #expect(i >= next, "\(line) after request \(next - 1)")
                next = i + 1
                written += 1
            } else {
                let n = Int(line.dropFirst().split(separator: " ")[0])!
                #expect(line.hasSuffix("dropped: the log's reader fell behind)"), "\(line)")
                noticed += n
            }
        }
        #expect(lines.last == "after")
        #expect(noticed == dropped && written + dropped == total)
    }
}
