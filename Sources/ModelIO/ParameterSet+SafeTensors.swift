// Saving and loading a model's ParameterSet (and optimizer state) as .safetensors, by name.
// Loading checks every expected name and shape and names the file in its errors; extra
// tensors in the file are an error too, so a checkpoint for another model is never half-loaded.

import Foundation
import Tensors

extension ParameterSet {
    /// Writes every parameter (float32) to `url` atomically, with optional string metadata.
    public func save(to url: URL, metadata: [String: String] = [:]) throws {
        try SafeTensors.write(dictionary, metadata: metadata, to: url)
    }

    /// Loads values from a safetensors file into these tensors. Every parameter must be present
    /// with the same shape, and the file must hold nothing else.
    public func load(contentsOf url: URL) throws {
        let file = try SafeTensors.read(contentsOf: url)
        let expected = Set(names)
        if let extra = file.names.first(where: { !expected.contains($0) }) {
            throw SafeTensorsError(path: url.path, problem: "unexpected tensor '\(extra)' (this model has no such parameter)")
        }
        var values: [String: Tensor] = [:]
        for (name, tensor) in zip(names, tensors) {
            guard let entry = file.entry(name) else {
                throw SafeTensorsError(path: url.path, problem: "missing tensor '\(name)' (expected shape \(tensor.shape))")
            }
            guard entry.shape == tensor.shape else {
                throw SafeTensorsError(path: url.path, problem: "tensor '\(name)' has shape \(entry.shape) but the model expects \(tensor.shape)")
            }
            values[name] = try file.tensor(name)
        }
        try load(values, context: url.path)
    }
}
