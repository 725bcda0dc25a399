// OpConformanceCase: the vocabulary of the op-conformance table (`OpConformanceTable.swift`) —
// one case is a one-node graph with seeded random feeds and what each of the three checks
// expects of it: A (interpreter/kernels vs a naive reference), B (compiled plan vs
// interpreter), C (tape backward vs central differences, or the tape's refusal). The checks
// themselves run in `OpConformanceTests.swift`; obvious references for ops without a naive twin
// live in `OpConformanceReferences.swift`.

import Foundation
@testable import Graphs
import Tensors
import TestSupport

/// How close two float tensors must be: |actual − expected| ≤ atol + rtol·|expected|, or the
/// same bits in every element (`bitExact`).
struct Tolerance: CustomStringConvertible {
    let rtol: Float
    let atol: Float
    let bitExact: Bool

    static let bitExact = Tolerance(rtol: 0, atol: 0, bitExact: true)
    static func close(rtol: Float, atol: Float) -> Tolerance { Tolerance(rtol: rtol, atol: atol, bitExact: false) }

    var description: String { bitExact ? "bit-exact" : "rtol \(rtol), atol \(atol)" }

    /// Why `actual` fails `expected` at this tolerance, or nil when it passes. Int64 values must be equal.
    func mismatch(_ actual: Value, _ expected: Value) -> String? {
        guard actual.shape == expected.shape else { return "shape \(actual.shape), expected \(expected.shape)" }
        switch (actual, expected) {
        case let (.int(a), .int(e)):
            return a.values == e.values ? nil : "int64 values \(a.values.prefix(8)), expected \(e.values.prefix(8))"
        case let (.float(a), .float(e)):
            var bad = 0, first = ""
            for i in 0..<a.count {
                let x = a.pointer[i], y = e.pointer[i]
                let ok = bitExact ? x.bitPattern == y.bitPattern : abs(x - y) <= atol + rtol * abs(y)
                if !ok {
                    if bad == 0 { first = "index \(i): \(x) vs \(y)" }
                    bad += 1
                }
            }
            return bad == 0 ? nil : "\(bad) of \(a.count) elements differ (\(self)); first at \(first)"
        default:
            return "type \(actual.elementType), expected \(expected.elementType)"
        }
    }
}

/// Check A: the interpreter's output (the fast kernels) against a reference computed from the
/// node's input values — a naive twin from `Tensors/Naive` or an obvious loop from
/// `OpConformanceReferences.swift` (every kind has one; none is skipped).
struct ReferenceCheck {
    let tolerance: Tolerance
    /// The expected outputs from the node's inputs in node order (nil for an omitted optional input).
    let expected: ([Value?]) throws -> [Value]

    static func naive(_ tolerance: Tolerance, expected: @escaping ([Value?]) throws -> [Value]) -> ReferenceCheck {
        ReferenceCheck(tolerance: tolerance, expected: expected)
    }
}

/// Check B: the compiled `InferencePlan` against the interpreter.
enum PlanCheck {
    /// The compiled graph keeps a node of `kind` (the case's own kind when nil) and the plan's
    /// outputs match the interpreter's.
    case runs(as: OpKind? = nil, Tolerance = .bitExact)
    /// Specialization folds the node to a constant (its inputs are static); the plan then only
    /// returns that constant, which must still equal the interpreter's output. Says why.
    case folded(reason: String)
}

/// Check C: the autograd tape (through `TapeExecutor`) with every float graph input trained.
enum BackwardCheck {
    /// Gradients of L = Σₖ outputₖ ⊙ Rₖ (fixed random Rₖ) match central differences of the tape's
    /// own forward at `check`'s step and tolerance, for up to `samples` elements per input; and
    /// the tape's forward is checked against the interpreter's as `forward` says.
    case finiteDifferences(GradientCheck = GradientCheck(), samples: Int = 12, forward: TapeForward = .matchesInterpreter())
    /// The op has no backward rule here: the tape must refuse it with an error, or its outputs
    /// must carry no gradient. Says why.
    case none(reason: String)
}

/// What the tape's forward (training) computes compared with the interpreter (inference).
enum TapeForward {
    /// The same values within the tolerance.
    case matchesInterpreter(Tolerance = .close(rtol: 1e-6, atol: 1e-7))
    /// Training means something else (BatchNorm's batch statistics). Says why.
    case differs(reason: String)
}

/// One parameterization of an op: its graph, feeds and expectations.
struct OpCase {
    let name: String
    let graph: Graph
    /// Values for the graph inputs (float inputs are the ones check C trains).
    let feeds: [ValueID: Value]
    let reference: ReferenceCheck
    let plan: PlanCheck
    let backward: BackwardCheck

    /// The node under test (every case graph has exactly one).
    var node: Node { graph.nodes[0] }

    /// The node's input values in node order, from the feeds and the constants.
    var nodeInputs: [Value?] { node.inputs.map { $0.map { feeds[$0] ?? graph.constants[$0]! } } }

    /// Builds the graph with a builder seeded from `name` (so a case's data never depends on its
    /// position in the table); `build` adds inputs and returns the node's op and input list.
    init(_ name: String, reference: ReferenceCheck, plan: PlanCheck = .runs(), backward: BackwardCheck,
         outputs: Int = 1, build: (inout CaseBuilder) throws -> (Op, [ValueID?])) rethrows {
        var builder = CaseBuilder(seed: stableSeed(name))
        let (op, inputs) = try build(&builder)
        let results = (0..<outputs).map { builder.graph.addValue(ValueInfo(name: "\(op.name).out\($0)")) }
        builder.graph.nodes = [Node(op, inputs: inputs, outputs: results, name: name)]
        builder.graph.outputs = results
        self.name = name
        graph = builder.graph
        feeds = builder.feeds
        self.reference = reference
        self.plan = plan
        self.backward = backward
    }
}

/// Adds a case graph's inputs and constants, drawing seeded random data.
struct CaseBuilder {
    var graph = Graph()
    var feeds: [ValueID: Value] = [:]
    var rng: TestRNG

    init(seed: UInt64) { rng = TestRNG(seed: seed) }

    /// Uniform random values in [low, high).
    mutating func random(_ shape: Shape, _ low: Float = -1, _ high: Float = 1) -> Tensor {
        Tensor(shape: shape, scalars: (0..<shape.elementCount).map { _ in rng.uniform(low, high) })
    }

    /// A float graph input of uniform random values (trained by check C).
    mutating func input(_ shape: Shape, _ low: Float = -1, _ high: Float = 1) -> ValueID {
        input(random(shape, low, high))
    }

    /// A graph input fed with `value` (float inputs are trained by check C; int64 ones are data).
    mutating func input(_ value: Tensor) -> ValueID { input(.float(value)) }

    mutating func input(_ value: Value) -> ValueID {
        let id = graph.addValue(ValueInfo(name: "in\(graph.inputs.count)", type: value.elementType))
        graph.inputs.append(id)
        feeds[id] = value
        return id
    }

    /// A constant (never trained; static for specialization).
    mutating func constant(_ value: Value) -> ValueID { graph.addConstant(value, name: "const\(graph.constants.count)") }
    mutating func constant(_ value: Tensor) -> ValueID { constant(.float(value)) }

    /// An int64 rank-1 constant (shapes, axes, pads, indices).
    mutating func ints(_ values: [Int64]) -> ValueID { constant(.int(IntTensor(values))) }

    /// A float rank-0 constant.
    mutating func scalar(_ value: Float) -> ValueID { constant(Tensor(scalar: value)) }
}

/// FNV-1a of a case name: a seed that is the same in every process (Swift's `hashValue` is not).
func stableSeed(_ name: String) -> UInt64 {
    name.utf8.reduce(0xcbf2_9ce4_8422_2325 as UInt64) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
}

extension Value {
    /// The float tensor of a value known to be float (test data).
    var floatTensor: Tensor {
        guard case .float(let t) = self else { preconditionFailure("expected a float32 value, got int64 \(shape)") }
        return t
    }

    /// The int64 tensor of a value known to be int64 (test data).
    var intTensor: IntTensor {
        guard case .int(let t) = self else { preconditionFailure("expected an int64 value, got float32 \(shape)") }
        return t
    }
}
