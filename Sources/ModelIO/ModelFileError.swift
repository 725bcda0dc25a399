// ModelFileError: the one error of model loading and writing — which file, and what is wrong with it.

/// A model file (ONNX, native folder, scheduler config) that is missing, invalid or unsupported;
/// names the file and the problem.
public struct ModelFileError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let problem: String
    public var description: String { "\(path): \(problem)" }

    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }
}
