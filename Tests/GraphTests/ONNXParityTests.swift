// Every committed ONNX fixture (scripts/make_onnx_fixtures.py: both PyTorch exporters, several
// U-Nets, three GroupNorm encodings) imports and runs, and its output matches onnxruntime's
// within 1e-4 of the output's scale. Fixtures are discovered from the folder: each
// `<model>/<file>.onnx` is checked against `y.<variant>.npy`, fed `<input name>.npy`.

import Foundation
import Testing
@testable import Graphs
import ModelIO
import Tensors
import TestSupport

/// One ONNX fixture file with its folder and the variant name of its expected output.
struct ONNXFixture: CustomStringConvertible, Sendable {
    let folder: URL
    let file: String

    /// `ddpm_unet_small.ts.onnx` → `ts`; `instancenorm.onnx` → `instancenorm`.
    var variant: String {
        let stem = String(file.dropLast(".onnx".count)), model = folder.lastPathComponent
        return stem.hasPrefix(model + ".") ? String(stem.dropFirst(model.count + 1)) : stem
    }
    var path: String { folder.appendingPathComponent(file).path }
    var description: String { "\(folder.lastPathComponent)/\(file)" }

    static let root = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/onnx")

    static var all: [ONNXFixture] {
        let fm = FileManager.default
        let folders = (try? fm.contentsOfDirectory(at: root, includingPropertiesForKeys: nil)) ?? []
        return folders.sorted { $0.path < $1.path }.flatMap { folder in
            ((try? fm.contentsOfDirectory(atPath: folder.path)) ?? []).filter { $0.hasSuffix(".onnx") }.sorted()
                .map { ONNXFixture(folder: folder, file: $0) }
        }
    }

    /// The graph's inputs read from `<name>.npy`.
    func inputs(for graph: Graph) throws -> [ValueID: Value] {
        var feed: [ValueID: Value] = [:]
        for id in graph.inputs { feed[id] = try NumPy.read(folder.appendingPathComponent("\(graph[id].name).npy").path) }
        return feed
    }

    func expected() throws -> Tensor {
        guard case .float(let t) = try NumPy.read(folder.appendingPathComponent("y.\(variant).npy").path) else {
            throw GraphError.invalid("y.\(variant).npy is not float")
        }
        return t
    }
}

@Suite struct ONNXParityTests {
    @Test func fixturesArePresent() {
        let all = ONNXFixture.all
        #expect(all.count >= 10, "found \(all.count) fixtures under \(ONNXFixture.root.path)")
        #expect(all.contains { $0.variant == "dynamo" } && all.contains { $0.variant == "ts" })
    }

    @Test(arguments: ONNXFixture.all) func interpreterMatchesOnnxRuntime(_ fixture: ONNXFixture) throws {
        let graph = try ONNXImporter.load(fixture.path)
        let y = try Interpreter(cpu: CPU(threads: 2)).run(graph, inputs: fixture.inputs(for: graph))
        guard case .float(let out) = y[0] else { Issue.record("\(fixture): output is not float"); return }
        let expected = try fixture.expected()
        #expect(out.shape == expected.shape, "\(fixture): shape \(out.shape) vs \(expected.shape)")
        guard out.shape == expected.shape else { return }
        let err = relativeError(out, expected)
        #expect(err <= 1e-4, "\(fixture): max error \(err) relative to the output's scale")
    }

    /// Specialization (folding) and fusion keep the meaning: the compiled graph, still run by the
    /// interpreter, matches onnxruntime as tightly as the imported one.
    @Test(arguments: ONNXFixture.all) func specializedAndFusedGraphMatches(_ fixture: ONNXFixture) throws {
        let graph = try ONNXImporter.load(fixture.path)
        let inputs = try fixture.inputs(for: graph)
        let compiled = try graph.specialized(inputShapes: inputs.mapValues(\.shape), cpu: CPU(threads: 2)).fused()
        #expect(compiled.graph.nodes.count < graph.nodes.count, "\(fixture): passes removed nothing")
        let y = try Interpreter(cpu: CPU(threads: 2)).run(compiled.graph, inputs: inputs)
        guard case .float(let out) = y[0] else { Issue.record("\(fixture): output is not float"); return }
        let err = relativeError(out, try fixture.expected())
        #expect(err <= 1e-4, "\(fixture): max error \(err) relative to the output's scale")
    }

    /// The compiled plan (arena, fused kernels writing in place) matches onnxruntime, and running it
    /// twice gives the same bits (nothing left over in the arena changes the second run).
    @Test(arguments: ONNXFixture.all) func inferencePlanMatches(_ fixture: ONNXFixture) throws {
        let graph = try ONNXImporter.load(fixture.path)
        let inputs = try fixture.inputs(for: graph)
        let plan = try InferencePlan(graph, inputShapes: inputs.mapValues(\.shape), cpu: CPU(threads: 2))
        guard case .float(let first) = try plan.run(inputs)[0] else { Issue.record("\(fixture): output is not float"); return }
        let firstBits = first.scalars
        let err = relativeError(first, try fixture.expected())
        #expect(err <= 1e-4, "\(fixture): max error \(err) relative to the output's scale")
        guard case .float(let second) = try plan.run(inputs)[0] else { return }
        #expect(second.scalars == firstBits, "\(fixture): second run differs")
        #expect(plan.arenaBytes > 0 && plan.arenaBytes <= plan.memory.unsharedSize * 4)
    }

    /// The time table (branch computed once per integer timestep) gives exactly the bits of
    /// computing the branch; out-of-range timesteps fall back to computing it.
    @Test(arguments: ONNXFixture.all.filter { $0.folder.lastPathComponent != "groupnorm_forms" })
    func timeTableGivesTheSameBits(_ fixture: ONNXFixture) throws {
        let graph = try ONNXImporter.load(fixture.path)
        var inputs = try fixture.inputs(for: graph)
        let shapes = inputs.mapValues(\.shape), cpu = CPU(threads: 2)
        let tabulated = try InferencePlan(graph, inputShapes: shapes, cpu: cpu, options: PlanOptions(timeTable: 1000))
        let computed = try InferencePlan(graph, inputShapes: shapes, cpu: cpu, options: PlanOptions(timeTable: nil))
        let floatTime = graph.inputs.contains { graph[$0].type == .float32 && graph[$0].dims?.count == 1 }
        #expect(tabulated.hasTimeTable == !floatTime, "\(fixture): time table \(tabulated.hasTimeTable), float timestep \(floatTime)")
        if floatTime { return }  // a float timestep always computes the branch
        func output(_ plan: InferencePlan) throws -> [Float] {
            guard case .float(let y) = try plan.run(inputs)[0] else { return [] }
            return y.scalars
        }
        #expect(try output(tabulated) == output(computed), "\(fixture): table differs from computing the branch")
        let t = try #require(graph.inputs.first { graph[$0].type == .int64 })
        inputs[t] = .int(IntTensor(shape: shapes[t]!, values: Array(repeating: 5000, count: shapes[t]!.elementCount)))
        #expect(try output(tabulated) == output(computed), "\(fixture): out-of-range timestep did not fall back")
    }
}
