// AtomicFile: writes a file so that a crash or kill at any moment leaves either the old file or the
// complete new one at the destination, never a torn one. Used for safetensors, checkpoints, models
// and PNGs. Protocol: create a uniquely named temporary file in the destination's own folder (so the
// rename never crosses file systems), write everything, fsync it, rename it over the destination,
// then fsync the folder so the rename itself is durable. On any failure the temporary is removed and
// the destination is untouched.
// Not a lock: two writers racing on one destination each produce a whole file; the last rename wins.
// A destination that is a symbolic link is replaced by a regular file (the link is not followed).
// POSIX only (Linux, macOS).

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed atomic write: the destination path, the step that failed and the system's reason.
public struct AtomicFileError: Error, CustomStringConvertible, Sendable {
    /// The destination the caller asked for.
    public let path: String
    /// What failed, e.g. "cannot create temporary file '/m/.weights.safetensors.tmp-12-ab': Permission denied".
    public let problem: String

    public var description: String { "\(path): \(problem)" }
}

/// Atomic file replacement: temporary file in the same folder, fsync, rename, fsync of the folder.
public enum AtomicFile {
    /// Writes `data` to `url` atomically.
    public static func write(_ data: Data, to url: URL) throws {
        try write(to: url) { writer in
            try data.withUnsafeBytes { try writer.write($0) }
        }
    }

    /// Streams a file to `url` atomically: `body` writes the contents through `writer`; the file
    /// appears at `url` only after `body` returns and everything is on disk. If `body` throws,
    /// nothing changes at `url` and the error is rethrown.
    ///
    /// The new file gets mode 0644 (less the process umask).
    public static func write(to url: URL, _ body: (inout Writer) throws -> Void) throws {
        let destination = url.standardizedFileURL.path
        let folder = (destination as NSString).deletingLastPathComponent
        let name = (destination as NSString).lastPathComponent
        guard !name.isEmpty, name != "/" else {
            throw AtomicFileError(path: url.path, problem: "not a file path")
        }
        let temporary = (folder.isEmpty ? "." : folder) + "/.\(name).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw AtomicFileError(path: url.path, problem: "cannot create temporary file '\(temporary)': \(errnoText())")
        }
        var writer = Writer(fd: fd, destination: url.path)
        var closed = false
        do {
            try body(&writer)
            try writer.flush()
            guard fsync(fd) == 0 else {
                throw AtomicFileError(path: url.path, problem: "fsync of '\(temporary)' failed: \(errnoText())")
            }
            closed = true
            guard close(fd) == 0 else {
                throw AtomicFileError(path: url.path, problem: "close of '\(temporary)' failed: \(errnoText())")
            }
            guard rename(temporary, destination) == 0 else {
                throw AtomicFileError(path: url.path, problem: "cannot rename '\(temporary)' into place: \(errnoText())")
            }
        } catch {
            if !closed { close(fd) }
            unlink(temporary)
            throw error
        }
        // The new contents are in place; make the rename durable. A folder that cannot be opened or
        // synced (some file systems refuse) does not undo the write, so this is best effort.
        let dirfd = open(folder.isEmpty ? "." : folder, O_RDONLY | O_CLOEXEC)
        if dirfd >= 0 {
            _ = fsync(dirfd)
            close(dirfd)
        }
    }

    /// Sequential writer over the temporary file, buffered in 1 MiB; large writes go straight through.
    public struct Writer: ~Copyable {
        fileprivate let fd: Int32
        fileprivate let destination: String
        private var buffer: [UInt8] = []
        private static let bufferSize = 1 << 20
        /// Bytes written so far (buffered included).
        public private(set) var byteCount: Int = 0

        fileprivate init(fd: Int32, destination: String) {
            self.fd = fd
            self.destination = destination
            buffer.reserveCapacity(Writer.bufferSize)
        }

        /// Appends raw bytes.
        public mutating func write(_ bytes: UnsafeRawBufferPointer) throws {
            byteCount += bytes.count
            if buffer.count + bytes.count <= Writer.bufferSize {
                buffer.append(contentsOf: bytes)
                return
            }
            try flush()
            if bytes.count >= Writer.bufferSize {
                try writeAll(bytes)
            } else {
                buffer.append(contentsOf: bytes)
            }
        }

        /// Appends `data`.
        public mutating func write(_ data: Data) throws {
            try data.withUnsafeBytes { try write($0) }
        }

        /// Appends the UTF-8 bytes of `string`.
        public mutating func write(_ string: String) throws {
            var s = string
            try s.withUTF8 { try write(UnsafeRawBufferPointer($0)) }
        }

        fileprivate mutating func flush() throws {
            if buffer.isEmpty { return }
            try buffer.withUnsafeBytes { try writeAll($0) }
            buffer.removeAll(keepingCapacity: true)
        }

        private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
            guard var p = bytes.baseAddress else { return }
            var left = bytes.count
            while left > 0 {
                let n = systemWrite(fd, p, min(left, 1 << 30))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw AtomicFileError(path: destination, problem: "write failed: \(errnoText())")
                }
                p += n
                left -= n
            }
        }
    }
}

private func errnoText() -> String { String(cString: strerror(errno)) }

#if canImport(Glibc)
private let systemWrite = Glibc.write
#elseif canImport(Musl)
private let systemWrite = Musl.write
#elseif canImport(Darwin)
private let systemWrite = Darwin.write
#endif
