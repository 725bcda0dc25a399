// Parameters through safetensors: a file written by Python's safetensors loads into a model's
// ParameterSet by name; a save/load round trip is exact; mismatches name file, tensor and shapes.

import Foundation
import Testing
@testable import ModelIO
import Tensors

@Suite struct ParameterSetTests {
    func model() throws -> ParameterSet {
        try ParameterSet([("b.weight", Tensor(zeros: [2, 3])), ("a.bias", Tensor(zeros: [3])), ("scalar", Tensor(zeros: [])),
                          ("empty", Tensor(zeros: [0])), ("z", Tensor(zeros: [1, 1, 1, 2]))])
    }

    func pythonFile() throws -> URL {
        try #require(Bundle.module.url(forResource: "python_written", withExtension: "safetensors", subdirectory: "Fixtures/safetensors"))
    }

    @Test func loadsPythonWrittenParameters() throws {
        let p = try model()
        try p.load(contentsOf: pythonFile())
        #expect(p["b.weight"]!.scalars == [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5])
        #expect(p["a.bias"]!.scalars == [0.125, -1.0, 1.0e-7])
        #expect(p["z"]!.scalars == [1, 1])
    }

    @Test func roundTripIsExact() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("denoise-params-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = try ParameterSet([("conv.weight", Tensor(shape: [2, 2], scalars: [1e-30, -0.0, .pi, 3e38])), ("conv.bias", Tensor(shape: [1], scalars: [7]))])
        let url = dir.appendingPathComponent("weights.safetensors")
        try a.save(to: url, metadata: ["step": "12"])
        let b = try ParameterSet([("conv.weight", Tensor(zeros: [2, 2])), ("conv.bias", Tensor(zeros: [1]))])
        try b.load(contentsOf: url)
        #expect(b["conv.weight"]!.scalars.map(\.bitPattern) == a["conv.weight"]!.scalars.map(\.bitPattern))
        #expect(try SafeTensors.read(contentsOf: url).metadata["step"] == "12")
    }

    @Test func mismatchesAreNamed() throws {
        let wrongShape = try ParameterSet([("b.weight", Tensor(zeros: [3, 2])), ("a.bias", Tensor(zeros: [3])), ("scalar", Tensor(zeros: [])),
                                           ("empty", Tensor(zeros: [0])), ("z", Tensor(zeros: [1, 1, 1, 2]))])
        do { try wrongShape.load(contentsOf: pythonFile()); Issue.record("no error") } catch {
            #expect("\(error)".contains("python_written.safetensors") && "\(error)".contains("'b.weight'")
                    && "\(error)".contains("[2, 3]") && "\(error)".contains("[3, 2]"), "\(error)")
        }
        let missing = try ParameterSet([("b.weight", Tensor(zeros: [2, 3])), ("other", Tensor(zeros: [1]))])
        do { try missing.load(contentsOf: pythonFile()); Issue.record("no error") } catch {
            #expect("\(error)".contains("unexpected tensor 'a.bias'") || "\(error)".contains("missing tensor 'other'"), "\(error)")
        }
    }
}
