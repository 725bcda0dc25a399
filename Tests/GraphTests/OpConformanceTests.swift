// OpConformanceTests: every op kind of the graph IR through the three checks of the conformance
// table (`OpConformanceTable.swift`), like ggml's test-backend-ops:
//   A  the interpreter (the fast kernels, at 1 and 2 threads) against a naive reference;
//   B  the compiled InferencePlan (specialize → fuse → Winograd → arena), run twice, against the
//      interpreter — bit-exact unless the plan swaps the kernel (Winograd);
//   C  the tape's gradients through TapeExecutor (every float graph input trained) against central
//      differences of the tape's own forward; ops without a backward rule must be refused or
//      carry no gradient.
// One parameterized test per check, one argument per `OpKind`; a kind whose entry is empty, or
// whose cases test another kind, fails `everyOpKindHasAnEntry`. Tiny shapes: the whole suite
// runs in seconds in a debug build.

import Foundation
import Testing
@testable import Graphs
import Tensors
import TestSupport

@Suite struct OpConformanceTests {
    let cpu = CPU(threads: 2)

    /// What a tape error says when it refuses to differentiate a node (no backward rule, or an
    /// int64 output it cannot hold): any other error in a `.none` case is a failure.
    static let refusals = ["cannot be trained", "has no backward rule", "is not a float value available to the tape"]

    @Test func everyOpKindHasAnEntry() {
        for kind in OpKind.allCases {
            let cases = OpConformance.cases(for: kind)
            #expect(!cases.isEmpty, "op kind '\(kind.rawValue)' has no conformance case")
            for c in cases {
                #expect(c.graph.nodes.count == 1 && c.node.op.kind == kind,
                        "'\(c.name)' is in the entry of '\(kind.rawValue)' but tests '\(c.node.op.kind.rawValue)'")
            }
            let names = cases.map(\.name)
            #expect(Set(names).count == names.count, "'\(kind.rawValue)' repeats a case name (names seed the data)")
        }
    }

    /// Runs `check` on every case of `kind`; an error fails that case only.
    func forEachCase(of kind: OpKind, _ check: (OpCase) throws -> Void) {
        for c in OpConformance.cases(for: kind) {
            do { try check(c) } catch { Issue.record("\(c.name): \(error)") }
        }
    }

    @Test(arguments: OpKind.allCases) func kernelsMatchReference(_ kind: OpKind) {
        forEachCase(of: kind) { c in
            let wanted = try c.reference.expected(c.nodeInputs)
            for threads in [1, 2] {
                let actual = try Interpreter(cpu: CPU(threads: threads)).run(c.graph, inputs: c.feeds)
                try #require(actual.count == wanted.count, "\(c.name): \(actual.count) outputs, reference has \(wanted.count)")
                for (k, (a, e)) in zip(actual, wanted).enumerated() {
                    if let why = c.reference.tolerance.mismatch(a, e) { Issue.record("\(c.name), output \(k), \(threads) threads: \(why)") }
                }
            }
        }
    }

    @Test(arguments: OpKind.allCases) func planMatchesInterpreter(_ kind: OpKind) {
        forEachCase(of: kind) { c in
            let expected = try Interpreter(cpu: cpu).run(c.graph, inputs: c.feeds)
            let plan = try InferencePlan(c.graph, inputShapes: c.feeds.mapValues(\.shape), cpu: cpu, options: PlanOptions(timeTable: nil))
            let compiled = plan.compiled.graph.nodes.map(\.op.kind.rawValue)
            let tolerance: Tolerance
            switch c.plan {
            case let .runs(planned, t):
                let runs = (planned ?? kind).rawValue
                #expect(compiled.contains(runs), "\(c.name): the compiled graph runs \(compiled), not \(runs)")
                tolerance = t
            case .folded(let reason):
                #expect(compiled.isEmpty, "\(c.name): expected folding (\(reason)); the compiled graph runs \(compiled)")
                tolerance = .bitExact
            }
            for run in 1...2 {  // the second run reuses the arena
                let outputs = try plan.run(c.feeds)
                try #require(outputs.count == expected.count)
                for (k, (a, e)) in zip(outputs, expected).enumerated() {
                    if let why = tolerance.mismatch(a, e) { Issue.record("\(c.name), output \(k), plan run \(run): \(why)") }
                }
            }
        }
    }

    @Test(arguments: OpKind.allCases) func backwardMatchesFiniteDifferences(_ kind: OpKind) {
        forEachCase(of: kind) { c in
            let trained = c.feeds.compactMap { id, v -> (ValueID, Tensor)? in
                if case .float(let t) = v { return (id, t) }
                return nil
            }.sorted { $0.0 < $1.0 }
            let data = c.feeds.filter { $0.value.elementType == .int64 }
            func forward(_ parameters: [ValueID: Tensor]) throws -> (Tape, [ValueID: Var], [Var]) {
                let tape = Tape(cpu: cpu)
                let vars = parameters.mapValues { tape.parameter($0) }
                return (tape, vars, try TapeExecutor(tape: tape).run(c.graph, inputs: data, parameters: vars))
            }
            let point = Dictionary(uniqueKeysWithValues: trained)
            switch c.backward {
            case .none(let reason):
                do {
                    let (tape, _, outputs) = try forward(point)
                    #expect(!outputs.contains { tape.requiresGrad($0) },
                            "\(c.name): declared without backward (\(reason)), yet its output carries a gradient")
                } catch {
                    let message = "\(error)"
                    #expect(Self.refusals.contains { message.contains($0) }, "\(c.name): the tape failed otherwise than by refusing: \(message)")
                }
            case let .finiteDifferences(check, samples, tapeForward):
                try #require(!trained.isEmpty, "\(c.name): a backward check needs a float graph input")
                let (tape, vars, outputs) = try forward(point)
                if case .matchesInterpreter(let tolerance) = tapeForward {
                    let expected = try Interpreter(cpu: cpu).run(c.graph, inputs: c.feeds)
                    for (k, (y, e)) in zip(outputs, expected).enumerated() {
                        if let why = tolerance.mismatch(.float(tape[y]), e) {
                            Issue.record("\(c.name), output \(k): tape forward vs interpreter: \(why)")
                        }
                    }
                }
                // L = Σₖ outputₖ ⊙ Rₖ: one backward per output, gradients summed.
                let projections = outputs.indices.map { randomTensor(tape[outputs[$0]].shape, seed: 977 + UInt64($0)) }
                var gradients: [ValueID: Tensor] = [:]
                for (y, r) in zip(outputs, projections) {
                    let g = try tape.backward(from: y, seed: r)
                    for (id, v) in vars { if let gi = g[v] { gradients[id] = try gradients[id].map { try cpu.add($0, gi) } ?? gi } }
                }
                for (id, x) in trained {
                    guard let g = gradients[id] else {
                        Issue.record("\(c.name): no gradient for \(c.graph[id].name) \(x.shape)")
                        continue
                    }
                    let picks = x.count <= samples ? Array(0..<x.count) : (0..<samples).map { $0 * x.count / samples }
                    let mismatches = try check.mismatches(g, at: x, elements: picks) { perturbed in
                        var p = point
                        p[id] = perturbed
                        let (t, _, ys) = try forward(p)
                        return zip(ys, projections).reduce(0.0) { $0 + projectedSum(t[$1.0], $1.1) }
                    }
                    #expect(mismatches.isEmpty, """
                        \(c.name), input \(c.graph[id].name) \(x.shape): \(mismatches.count) of \(picks.count) derivatives \
                        differ from central differences: \(mismatches.prefix(4))
                        """)
                }
            }
        }
    }
}
