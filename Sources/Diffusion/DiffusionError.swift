// DiffusionError: a request, option or model that sampling or training cannot work with — the
// message names what was wrong (the CLI prints it, the server answers it). Errors from the graph
// itself stay GraphError; files stay ModelFileError.

/// A problem with a generation or training request, its options, or the model's inputs/outputs.
public struct DiffusionError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ message: String) { description = message }
}
