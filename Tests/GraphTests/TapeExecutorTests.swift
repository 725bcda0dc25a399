// Training through single-op graphs: for each op the tape executor maps specially (index-map
// takes, reductions, pad, where, casts, BatchNorm in training mode, parameters read from inputs:
// axes, scales, sizes, bounds, shapes), the gradient of a trained constant matches central finite
// differences of the executor's own forward, and the forward matches the interpreter (except
// BatchNorm, which trains on batch statistics).

import Foundation
import Testing
@testable import Graphs
import Tensors
import TestSupport

@Suite struct TapeExecutorTests {
    /// A graph `y = op(p, constants…)` with `p` (named `p.weight`) trained.
    struct Case {
        let name: String
        let op: Op
        let parameter: Tensor
        /// Further node inputs after p (constants), or nil for an absent optional input.
        var extra: [Value?] = []
        var extraBefore: [Value?] = []
        var matchesInterpreter = true
    }

    static var cases: [Case] {
        let x = randomTensor([2, 3, 4, 4], seed: 1)
        let ints = { (v: [Int64]) in Value.int(IntTensor(shape: [v.count], values: v)) }
        // Distinct values 0.05 apart, so a ±0.01 step never changes which element is the extreme.
        var rng = TestRNG(seed: 9)
        let spaced = Tensor(shape: x.shape, scalars: (0..<x.count).map { Float($0) * 0.05 }.shuffled(using: &rng))
        return [
            Case(name: "slice with negative step", op: .slice, parameter: x, extra: [ints([3, 0]), ints([0, 100]), ints([3, 1]), ints([-1, 2])]),
            Case(name: "gather with repeats", op: .gather(axis: 1), parameter: x, extra: [.int(IntTensor(shape: [4], values: [2, 0, 2, -1]))]),
            Case(name: "tile", op: .tile, parameter: randomTensor([2, 3], seed: 2), extra: [ints([2, 3])]),
            Case(name: "space to depth", op: .spaceToDepth(blockSize: 2), parameter: x),
            Case(name: "depth to space (DCR)", op: .depthToSpace(blockSize: 2, crd: false), parameter: randomTensor([1, 8, 2, 3], seed: 3)),
            Case(name: "reduce l2", op: .reduce(.l2, axes: [1, 3], keepDims: true, noopWithEmptyAxes: false), parameter: x),
            Case(name: "reduce sum square", op: .reduce(.sumSquare, axes: [2], keepDims: false, noopWithEmptyAxes: false), parameter: x),
            Case(name: "reduce max", op: .reduce(.max, axes: [1], keepDims: false, noopWithEmptyAxes: false), parameter: spaced),
            Case(name: "reduce min", op: .reduce(.min, axes: [0, 2], keepDims: true, noopWithEmptyAxes: false), parameter: spaced),
            Case(name: "pad constant", op: .pad(.constant), parameter: x, extra: [ints([0, 0, 1, 2, 0, 0, 2, 0]), .float(Tensor(shape: [], scalars: [0.5]))]),
            Case(name: "pad reflect with axes", op: .pad(.reflect), parameter: x, extra: [ints([1, 2, 2, 1]), nil, ints([2, -1])]),
            Case(name: "where", op: .select, parameter: randomTensor([3, 4], seed: 4),
                 extra: [.float(randomTensor([3, 4], seed: 5))],
                 extraBefore: [.int(IntTensor(shape: [3, 4], values: (0..<12).map { Int64($0 % 3 == 0 ? 1 : 0) }))]),
            Case(name: "cast to float", op: .cast(.float32), parameter: x),
            // Parameters read from inputs, decoded by OpArguments as the interpreter decodes them.
            Case(name: "reduce mean, axes omitted (all)", op: .reduce(.mean, axes: nil, keepDims: true, noopWithEmptyAxes: false), parameter: x),
            Case(name: "resize nearest by scales", op: .resize(.nearest), parameter: x, extra: [nil, .float(Tensor(shape: [4], scalars: [1, 1, 2, 1.5]))]),
            Case(name: "resize bilinear to sizes", op: .resize(.linear(alignCorners: false)), parameter: x, extra: [nil, nil, ints([2, 3, 6, 7])]),
            Case(name: "clip", op: .clip, parameter: spaced, extra: [.float(Tensor(scalar: 1.025)), .float(Tensor(scalar: 3.025))]),
            Case(name: "squeeze axes from input", op: .squeeze(axes: nil), parameter: randomTensor([2, 1, 3, 1], seed: 10), extra: [ints([1, -1])]),
            Case(name: "expand", op: .expand, parameter: randomTensor([3, 1], seed: 11), extra: [ints([2, 3, 4])]),
            Case(name: "batch norm (training mode)", op: .batchNorm(eps: 1e-5), parameter: randomTensor([4, 3, 2, 2], seed: 6),
                 extra: [.float(randomTensor([3], seed: 7)), .float(randomTensor([3], seed: 8)), .float(Tensor(zeros: [3])), .float(Tensor(shape: [3], repeating: 1))],
                 matchesInterpreter: false),
        ]
    }

    func graph(_ c: Case) -> (Graph, ValueID) {
        var g = Graph()
        let before = c.extraBefore.map { v in v.map { g.addConstant($0, name: "c") } }
        let p = g.addConstant(.float(c.parameter.copy()), name: "p.weight")
        let after = c.extra.map { v in v.map { g.addConstant($0, name: "c") } }
        let y = g.addValue(ValueInfo(name: "y"))
        g.nodes = [Node(c.op, inputs: before + [p] + after, outputs: [y], name: c.name)]
        g.outputs = [y]
        return (g, p)
    }

    @Test(arguments: cases.indices) func gradientMatchesFiniteDifferences(_ index: Int) throws {
        let c = Self.cases[index], cpu = CPU(threads: 2)
        let (g, p) = graph(c)
        let specialized = try g.specialized(inputShapes: [:], cpu: cpu, trainable: [p]).graph
        func forward(_ w: Tensor) throws -> (Tape, Var, Var) {
            let tape = Tape(cpu: cpu), v = tape.parameter(w)
            return (tape, v, try TapeExecutor(tape: tape).run(specialized, inputs: [:], parameters: [p: v])[0])
        }
        let w = c.parameter.copy()
        let (tape, v, y) = try forward(w)
        if c.matchesInterpreter, case .float(let reference) = try Interpreter(cpu: cpu).run(g, inputs: [:])[0] {
            #expect(tape[y].shape == reference.shape && relativeError(tape[y], reference) <= 1e-6, "\(c.name): forward differs from the interpreter")
        }
        let projection = randomTensor(tape[y].shape, seed: 99)
        let grad = try #require(try tape.backward(from: y, seed: projection)[v], "\(c.name): no gradient")
        let failures = try GradientCheck(eps: 1e-2, rtol: 1e-2, atol: 2e-3).mismatches(
            grad, at: w, elements: stride(from: 0, to: w.count, by: max(1, w.count / 24))) { w in
            let (t, _, out) = try forward(w)
            return projectedSum(t[out], projection)
        }
        #expect(failures.isEmpty, "\(c.name): \(failures.prefix(4))")
    }
}
