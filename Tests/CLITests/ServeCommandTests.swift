// End-to-end tests of `denoise serve` on the real binary: a server subprocess on a free port
// serves a native folder.
// - Hot reload: after the folder is rewritten with other weights, SIGHUP (sent with kill) or
//   --watch reloads it: the log says so in one line and /generate answers the PNG
//   `denoise generate` makes from the new folder.
// - A log nobody reads: with its stderr pipe full, the server still answers every request.

import Foundation
import ModelIO
import Tensors
import Testing

/// `denoise serve` running as a subprocess; its stderr is collected as it arrives.
private final class ServeProcess: @unchecked Sendable {
    let process = Process()
    /// Guards `log`, written by the pipe's reading thread.
    private let lock = NSLock()
    private var log = ""
    private let err = Pipe()
    private(set) var port: UInt16 = 0

    init(_ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("denoise")
        process.arguments = ["serve", "--port", "0", "--threads", "1"] + arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = err
        readLog(true)
        try process.run()
        try waitFor("compiled ")
        let listening = try #require(text.split(separator: "\n").first { $0.contains("listening on http://127.0.0.1:") })
        port = UInt16(listening.split(separator: ":").last!.split(separator: " ").first!) ?? 0
    }

    var text: String { lock.withLock { log } }

    /// Starts or stops reading the server's stderr (stopped: the pipe fills and stays full).
    func readLog(_ on: Bool) {
        guard on else {
            err.fileHandleForReading.readabilityHandler = nil
            return
        }
        err.fileHandleForReading.readabilityHandler = { [weak self] (handle: FileHandle) in
            let data = handle.availableData
            guard let self, !data.isEmpty else { return }
            self.append(String(decoding: data, as: UTF8.self))
        }
    }

    private func append(_ s: String) { lock.withLock { log += s } }

    /// Waits up to `seconds` for a log line containing `fragment`; returns it.
    @discardableResult
    func waitFor(_ fragment: String, after count: Int = 0, seconds: Double = 60) throws -> String {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let lines = text.split(separator: "\n").filter { $0.contains(fragment) }
            if lines.count > count { return String(lines[count]) }
            guard process.isRunning else { break }
            Thread.sleep(forTimeInterval: 0.02)
        }
        throw ServeTestError("no log line with '\(fragment)' (#\(count + 1)) in:\n\(text)")
    }

    /// SIGTERM, then SIGKILL if the server has not exited after 60 s (a hung server fails the
    /// test that hung it, not the whole run).
    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}

private struct ServeTestError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// GET `target` on 127.0.0.1:`port` (Connection: close); the status and body.
private func get(_ port: UInt16, _ target: String) throws -> (status: Int, body: Data) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = port.bigEndian
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    guard ok == 0 else { throw ServeTestError("cannot connect to port \(port)") }
    var wait = timeval(tv_sec: 30, tv_usec: 0)  // a hung server fails the test instead of blocking it
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
    _ = "GET \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".withCString { send(fd, $0, strlen($0), 0) }
    var data = Data(), buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = recv(fd, &buffer, buffer.count, 0)
        if n <= 0 { break }
        data.append(contentsOf: buffer[0..<n])
    }
    guard let split = data.range(of: Data("\r\n\r\n".utf8)) else { throw ServeTestError("no HTTP header in reply") }
    let status = Int(String(decoding: data[..<split.lowerBound], as: UTF8.self).split(separator: " ")[1]) ?? 0
    return (status, Data(data[split.upperBound...]))
}

/// A native tiny U-Net (8x8 gray) with weights from `seed`, written to `folder`.
private func writeTiny(seed: UInt64, to folder: String) throws {
    var c = UNet2DConfig()
    c.sampleSize = 8; c.inChannels = 1; c.outChannels = 1; c.blockOutChannels = [8, 16]; c.layersPerBlock = 1; c.normNumGroups = 4
    c.downBlockTypes = ["DownBlock2D", "DownBlock2D"]; c.upBlockTypes = ["UpBlock2D", "UpBlock2D"]
    try DiffusionModel(graph: UNet2DBuilder.initialized(c, seed: seed, cpu: CPU(threads: 1)), schedule: ScheduleConfig(), imageShape: [1, 8, 8])
        .write(to: folder)
}

/// The PNG `denoise generate` writes for one sample of `folder` at 3 steps, seed 5.
private func generated(_ folder: String) throws -> Data {
    let out = NSTemporaryDirectory() + "denoise-serve-out-\(UUID().uuidString)"
    let r = try runDenoise(["generate", folder, "--n", "1", "--steps", "3", "--seed", "5", "--out", out, "--threads", "1"])
    guard r.status == 0 else { throw ServeTestError("denoise generate failed: \(r.stderr)") }
    let file = try #require(try FileManager.default.contentsOfDirectory(atPath: out).first { $0.hasSuffix(".png") })
    return try Data(contentsOf: URL(fileURLWithPath: out + "/" + file))
}

@Suite(.serialized) struct ServeCommandTests {
    @Test func sighupReloadsEveryModel() throws {
        let folder = NSTemporaryDirectory() + "denoise-serve-\(UUID().uuidString)/tiny"
        try writeTiny(seed: 1, to: folder)
        let expectedA = try generated(folder)
        let server = try ServeProcess([folder])
        let a = try get(server.port, "/generate?steps=3&seed=5")
        #expect(a.status == 200 && a.body == expectedA)

        try writeTiny(seed: 2, to: folder)
        let expectedB = try generated(folder)
        kill(server.process.processIdentifier, SIGHUP)
        let line = try server.waitFor("reloaded model tiny")
        #expect(line.contains("(SIGHUP)") && line.contains(folder), "\(line)")
        let b = try get(server.port, "/generate?steps=3&seed=5")
        #expect(b.status == 200 && b.body == expectedB && b.body != a.body)
        let metrics = String(decoding: try get(server.port, "/metrics").body, as: UTF8.self)
        #expect(metrics.contains("denoise_model_reloads_total{model=\"tiny\",result=\"ok\"} 1"), "\(metrics)")
    }

    @Test func watchReloadsWhenTheFolderChanges() throws {
        let folder = NSTemporaryDirectory() + "denoise-serve-\(UUID().uuidString)/tiny"
        try writeTiny(seed: 1, to: folder)
        let server = try ServeProcess([folder, "--watch", "--watch-interval", "0.1"])
        try server.waitFor("watching 1 model(s)")
        try writeTiny(seed: 3, to: folder)
        let expected = try generated(folder)
        // A poll between the two renames may log one failed reload first; a successful one follows.
        let line = try server.waitFor("reloaded model tiny")
        #expect(line.contains("(watch)"), "\(line)")
        let r = try get(server.port, "/generate?steps=3&seed=5")
        #expect(r.status == 200 && r.body == expected)
        // SIGTERM still drains and exits cleanly with the watcher running.
        kill(server.process.processIdentifier, SIGTERM)
        server.process.waitUntilExit()
        #expect(server.process.terminationStatus == 0)
        try server.waitFor("stopped")
    }

    /// Measured before the log had a thread of its own: once about 64 KiB of access log sat
    /// unread in the stderr pipe, every connection thread blocked in write(2) and the server
    /// answered nothing, /healthz included.
    @Test func aLogNobodyReadsBlocksNoRequest() throws {
        let folder = NSTemporaryDirectory() + "denoise-serve-\(UUID().uuidString)/tiny"
        try writeTiny(seed: 1, to: folder)
        let server = try ServeProcess([folder])
        server.readLog(false)
        // About 60 bytes of log each: 3,000 requests are 170 KB, well over a pipe's 64 KiB.
        var notFound = 0
        for _ in 0..<3000 where try get(server.port, "/no-such-route").status == 404 { notFound += 1 }
        #expect(notFound == 3000)
        #expect(try get(server.port, "/healthz").status == 200)
        let png = try get(server.port, "/generate?steps=3&seed=5")
        #expect(png.status == 200 && png.body.starts(with: [0x89, 0x50, 0x4E, 0x47]))
        // Read again: the queued lines arrive (none dropped: they fit the log's 1 MiB), in order.
        server.readLog(true)
        try server.waitFor("GET /generate?steps=3&seed=5 200")
        #expect(server.text.components(separatedBy: "GET /no-such-route 404").count - 1 == 3000)
        #expect(!server.text.contains("dropped"))
    }
}
