// denoise-fuzz: the libFuzzer front end of Sources/FuzzTargets. Built with `-DFUZZING` and
// `--sanitize=fuzzer --sanitize=address` (scripts/fuzz.sh), libFuzzer owns `main` and calls
// `LLVMFuzzerTestOneInput` for the harness that DENOISE_FUZZ_TARGET names (onnx, safetensors,
// model-json, npy, torch, png, idx, query, json, form). In an ordinary build it replays files
// instead — `denoise-fuzz TARGET FILE|DIR…` prints each input's outcome — so a crash input can be
// rerun under a debugger without libFuzzer.

import Foundation
import FuzzTargets

#if FUZZING

/// The harness DENOISE_FUZZ_TARGET names, resolved once in `LLVMFuzzerInitialize`.
nonisolated(unsafe) private var selectedTarget: FuzzTarget?

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<CInt>?, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> CInt {
    let name = ProcessInfo.processInfo.environment["DENOISE_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTarget(rawValue: name) else {
        let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
        FileHandle.standardError.write(Data("denoise-fuzz: set DENOISE_FUZZ_TARGET to one of \(names) (got '\(name)')\n".utf8))
        exit(2)
    }
    target.prepare()
    selectedTarget = target
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    _ = selectedTarget?.run(bytes)
    return 0
}

#else

@main
struct ReplayInputs {
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard let name = arguments.first, let target = FuzzTarget(rawValue: name), arguments.count >= 2 else {
            print("usage: denoise-fuzz TARGET FILE|DIR…   (replays inputs through a fuzz harness; see scripts/fuzz.sh)")
            for t in FuzzTarget.allCases { print("  \(t.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0)) \(t.inputDescription)") }
            exit(2)
        }
        var files: [String] = []
        for path in arguments.dropFirst() {
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
                print("\(path): no such file or folder")
                exit(1)
            }
            if isFolder.boolValue {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                files += names.filter { !$0.hasPrefix(".") }.sorted().map { path + "/" + $0 }
            } else {
                files.append(path)
            }
        }
        target.prepare()
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else { print("\(file): unreadable"); continue }
            switch target.run([UInt8](data)) {
            case .accepted: print("\(file): accepted")
            case .refused(let message): print("\(file): refused: \(message)")
            }
        }
    }
}

#endif
