// ModelWatcher: `denoise serve --watch`. Polls the files each reloadable model was loaded from
// (an .onnx file; a native folder's model.json and weights.safetensors — not the checkpoint and
// sample grids `denoise finetune --out` keeps beside them; any other folder's regular files and
// those one level down, for a diffusers pipeline) and reloads a model when any file's modification time, size or inode changed since the last
// poll. No inotify: a stat per file per interval. A native folder is written by two atomic
// renames (weights, then model.json, sharing a write id), so a poll between them sees a torn
// folder: its reload fails (write ids differ), the old version keeps serving, and the next poll
// — which sees model.json changed too — reloads again. A stamp is taken before each reload, so a
// change during a reload is seen by the next poll. Not here: the reload itself (ModelReload.swift).

import Foundation

public final class ModelWatcher: @unchecked Sendable {
    /// What a poll compares: path → (modification time, size, inode).
    typealias Stamp = [String: FileStamp]

    struct FileStamp: Equatable {
        let modified: Date?, size: Int?, inode: Int?
    }

    let engine: Engine
    /// Seconds between polls.
    public let interval: Double
    /// Guards `stamps`, `stopped` and `thread`. Held for a whole poll, so polls never overlap.
    private let lock = NSLock()
    private var stamps: [String: Stamp] = [:]
    private var stopped = false
    private var thread: Thread?
    private let finished = DispatchSemaphore(value: 0)
    /// Signalled by `stop` to cut the wait between polls short.
    private let wake = DispatchSemaphore(value: 0)

    /// Watches every served model that has a source; the files as they are now count as loaded.
    public init(engine: Engine, interval: Double = 1) {
        self.engine = engine
        self.interval = interval
        for m in engine.models { if let path = m.source?.path { stamps[m.name] = Self.stamp(path) } }
    }

    /// Checks every model once and reloads those whose files changed. Returns the names reloaded
    /// (successfully or not).
    @discardableResult
    public func poll() -> [String] {
        lock.withLock {
            var attempted: [String] = []
            for m in engine.models {
                guard let path = m.source?.path else { continue }
                let now = Self.stamp(path)
                guard now != stamps[m.name] else { continue }
                stamps[m.name] = now
                attempted.append(m.name)
                _ = try? engine.reload(m.name, trigger: "watch")  // logged and counted by reload
            }
            return attempted
        }
    }

    /// Polls every `interval` seconds on a thread of its own until `stop`.
    public func start() {
        let t = Thread { [self] in
            while !lock.withLock({ stopped }) {
                _ = wake.wait(timeout: .now() + interval)
                if lock.withLock({ stopped }) { break }
                poll()
            }
            finished.signal()
        }
        t.name = "denoise-watch"
        lock.withLock { thread = t }
        t.start()
    }

    /// Stops polling and waits for a poll under way (and its reload) to end.
    public func stop() {
        let running = lock.withLock { () -> Bool in
            stopped = true
            defer { thread = nil }
            return thread != nil
        }
        if running {
            wake.signal()
            finished.wait()
        }
    }

    /// The stamp of `path`: the file itself; a native folder's model.json and weights.safetensors;
    /// another folder's regular files and those of its subfolders (not deeper; names starting with
    /// '.' skipped). A missing path is an empty stamp.
    static func stamp(_ path: String) -> Stamp {
        let fm = FileManager.default
        var result: Stamp = [:]
        func add(_ file: String) {
            guard let a = try? fm.attributesOfItem(atPath: file), a[.type] as? FileAttributeType == .typeRegular else { return }
            result[file] = FileStamp(modified: a[.modificationDate] as? Date, size: (a[.size] as? NSNumber)?.intValue,
                                     inode: (a[.systemFileNumber] as? NSNumber)?.intValue)
        }
        var isFolder: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isFolder) else { return result }
        guard isFolder.boolValue else { add(path); return result }
        if fm.fileExists(atPath: path + "/model.json") {
            add(path + "/model.json")
            add(path + "/weights.safetensors")
            return result
        }
        for name in (try? fm.contentsOfDirectory(atPath: path)) ?? [] where !name.hasPrefix(".") {
            let child = path + "/" + name
            var childIsFolder: ObjCBool = false
            guard fm.fileExists(atPath: child, isDirectory: &childIsFolder) else { continue }
            if childIsFolder.boolValue {
                for inner in (try? fm.contentsOfDirectory(atPath: child)) ?? [] where !inner.hasPrefix(".") { add(child + "/" + inner) }
            } else {
                add(child)
            }
        }
        return result
    }
}
