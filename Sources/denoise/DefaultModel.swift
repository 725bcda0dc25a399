// Where the shipped default model lives when a command is given no MODEL: $DENOISE_MODEL, else
// models/fashion-mnist in the working directory, else in the checkout the executable was built in
// (the nearest models/ above it, e.g. from .build/release/denoise) or its install prefix
// (bin/denoise → ../share/denoise/models).

import ArgumentParser
import Foundation

enum DefaultModel {
    static let name = "fashion-mnist"

    static var candidates: [String] {
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        var paths = ["models/" + name]
        var dir = exe
        for _ in 0..<4 {
            dir = dir.deletingLastPathComponent()
            paths.append(dir.appendingPathComponent("models/" + name).path)
        }
        paths.append(exe.appendingPathComponent("../share/denoise/models/" + name).standardizedFileURL.path)
        if let env = ProcessInfo.processInfo.environment["DENOISE_MODEL"], !env.isEmpty { paths.insert(env, at: 0) }
        return paths
    }

    /// The first candidate holding a model.json, or an error listing where it looked.
    static func path() throws -> String {
        for p in candidates where FileManager.default.fileExists(atPath: p + "/model.json") { return p }
        throw DefaultModelMissing(message: "no MODEL given and the default model was not found (looked in \(candidates.joined(separator: ", ")))")
    }
}

struct DefaultModelMissing: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
