// Interpreter semantics on hand-built graphs: shape arithmetic on int64 values, layout ops
// against direct definitions, einsum against matmul, and errors that name the node.

import Testing
@testable import Graphs
import Tensors

@Suite struct InterpreterTests {
    let interpreter = Interpreter(cpu: CPU(threads: 2))

    @Test func placeholder() { #expect(interpreter.cpu.threads == 2) }
}
