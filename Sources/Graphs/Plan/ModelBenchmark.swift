// ModelBenchmark: times whole forwards of a compiled plan — the numbers behind
// `denoise bench MODEL --batch 1,4,16`. Median over repeated runs after a warm-up; inputs are
// deterministic pseudo-random images and mid-range integer timesteps. Measures only.

import Tensors

/// One measured batch size.
public struct ModelMeasurement: Codable, Sendable {
    public let batch: Int
    public let msMedian: Double
    public let gflops: Double

    enum CodingKeys: String, CodingKey { case batch, msMedian = "ms_median", gflops }
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
        var inputs: [ValueID: Value] = [:]
        for id in graph.inputs {
            let shape = shapes[id]!
            if graph[id].type == .float32 {
                let t = Tensor(uninitialized: shape)
                var s: UInt32 = 12345
                for i in 0..<t.count { s = s &* 1_664_525 &+ 1_013_904_223; t.pointer[i] = Float(Int32(bitPattern: s)) / Float(Int32.max) }
                inputs[id] = .float(t)
            } else {
                inputs[id] = .int(IntTensor(shape: shape, values: (0..<shape.elementCount).map { Int64(500 + 37 * $0) % 1000 }))
            }
        }
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
        return ModelMeasurement(batch: batch, msMedian: median * 1e3, gflops: Double(plan.flops) / median / 1e9)
    }
}
