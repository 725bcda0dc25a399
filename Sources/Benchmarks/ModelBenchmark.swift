// ModelBenchmark: times whole forwards of a compiled plan — the numbers behind
// `denoise bench MODEL --batch 1,4,16`. Median over repeated runs after a warm-up; inputs are
// deterministic pseudo-random images and mid-range integer timesteps. Measures only.

import Foundation
import Graphs
import Tensors

/// One measured batch size.
public struct ModelMeasurement: Codable, Sendable {
    public let threads: Int
    public let batch: Int
    public let msMedian: Double
    public let gflops: Double

    enum CodingKeys: String, CodingKey { case threads, batch, msMedian = "ms_median", gflops }
}

/// Times forwards of a graph at several batch sizes.
public struct ModelBenchmark {
    public let graph: Graph
    public let cpu: CPU
    /// Minimum measured seconds per batch size (at least 3 runs).
    public var minimumSeconds = 2.0
    public var options = PlanOptions()

    public init(graph: Graph, cpu: CPU) {
        self.graph = graph
        self.cpu = cpu
    }

    /// Compiles a plan for `batch` (via `shapes`) and times it.
    public func measure(batch: Int, shapes: [ValueID: Shape]) throws -> ModelMeasurement {
        let plan = try InferencePlan(graph, inputShapes: shapes, cpu: cpu, options: options)
        let inputs = benchmarkInputs(shapes)
        _ = try plan.run(inputs)
        let clock = ContinuousClock()
        var samples: [Double] = []
        let start = clock.now
        while samples.count < 3 || (clock.now - start) < .milliseconds(Int(minimumSeconds * 1000)) {
            let t0 = clock.now
            _ = try plan.run(inputs)
            let d = clock.now - t0
            samples.append(Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18)
        }
        samples.sort()
        let median = samples[samples.count / 2]
        return ModelMeasurement(threads: cpu.threads, batch: batch, msMedian: median * 1e3, gflops: Double(plan.flops) / median / 1e9)
    }

    /// Compiles a plan for `batch` and times each of its steps over repeated forwards: the mean
    /// milliseconds per forward of every op kind (fused names, as `denoise inspect` prints them),
    /// largest first, and the whole forward's mean.
    public func profile(batch: Int, shapes: [ValueID: Shape]) throws
        -> (ops: [(op: String, count: Int, ms: Double)], steps: [(op: String, shapes: String, ms: Double, gflops: Double)], total: Double) {
        let plan = try InferencePlan(graph, inputShapes: shapes, cpu: cpu, options: options)
        let inputs = benchmarkInputs(shapes)
        _ = try plan.run(inputs)
        var times = [Double](repeating: 0, count: plan.stepCount)
        var runs = 0
        let start = ProcessInfo.processInfo.systemUptime
        while runs < 3 || ProcessInfo.processInfo.systemUptime - start < minimumSeconds {
            _ = try times.withUnsafeMutableBufferPointer { try plan.run(inputs, stepTimes: $0.baseAddress) }
            runs += 1
        }
        var byOp: [String: (count: Int, seconds: Double)] = [:]
        for (i, node) in plan.stepNodes.enumerated() {
            byOp[node.op.name, default: (0, 0)].count += 1
            byOp[node.op.name, default: (0, 0)].seconds += times[i]
        }
        let ops = byOp.map { (op: $0.key, count: $0.value.count, ms: $0.value.seconds * 1e3 / Double(runs)) }.sorted { $0.ms > $1.ms }
        let steps = plan.stepNodes.enumerated().map { i, node in
            let shapeList = node.inputs.prefix(2).compactMap { $0.flatMap { plan.compiled.shapes[$0]?.description } }
            let ms = times[i] * 1e3 / Double(runs)
            return (op: node.op.name, shapes: shapeList.joined(separator: " "), ms: ms,
                    gflops: Double(plan.compiled.flops(of: node)) / max(ms, 1e-9) / 1e6)
        }.sorted { $0.ms > $1.ms }
        return (ops, steps, times.reduce(0, +) * 1e3 / Double(runs))
    }

    private func benchmarkInputs(_ shapes: [ValueID: Shape]) -> [ValueID: Value] {
        var inputs: [ValueID: Value] = [:]
        // Timesteps spread over 0..<1000; class labels over the model's classes (its embedding rows).
        let classInput = (try? graph.diffusionInputRoles())?.classLabels, classes = max(1, graph.classLabelCount ?? 1)
        for id in graph.inputs {
            let shape = shapes[id]!
            if graph[id].type == .float32 {
                let t = Tensor(uninitialized: shape)
                var s: UInt32 = 12345
                for i in 0..<t.count { s = s &* 1_664_525 &+ 1_013_904_223; t.pointer[i] = Float(Int32(bitPattern: s)) / Float(Int32.max) }
                inputs[id] = .float(t)
            } else if id == classInput {
                inputs[id] = .int(IntTensor(shape: shape, values: (0..<shape.elementCount).map { Int64($0 % classes) }))
            } else {
                inputs[id] = .int(IntTensor(shape: shape, values: (0..<shape.elementCount).map { Int64(500 + 37 * $0) % 1000 }))
            }
        }
        return inputs
    }
}
