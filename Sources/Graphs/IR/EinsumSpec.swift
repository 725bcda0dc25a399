// EinsumSpec: an einsum equation parsed once, where it enters the IR (the ONNX importer, the native
// format), into the subscripts of each operand and of the output. Accepts what the executors
// implement: one or two operands, an explicit `->`, single-character subscripts (whitespace
// ignored), no ellipsis, no label repeated within one operand or in the output, every output
// label taken from an operand. Operand ranks are checked against the subscripts when it runs
// (`EinsumPlan`). Encodes as its equation string, so a file holds the text it was read from.

/// A parsed einsum equation such as `bhid,bhjd->bhij`.
public struct EinsumSpec: Sendable, Hashable {
    /// The equation as given (spaces kept), for files and messages.
    public let equation: String
    /// Each operand's subscripts, one label per axis.
    public let operands: [[Character]]
    /// The output's subscripts, one label per axis.
    public let output: [Character]

    /// Parses `equation`; the error names the equation and what is unsupported in it.
    public init(_ equation: String) throws {
        let eq = equation.filter { !$0.isWhitespace }
        let sides = eq.components(separatedBy: "->")
        guard sides.count == 2 else { throw GraphError.badInput("einsum '\(equation)': needs an explicit '->'") }
        let ins = sides[0].split(separator: ",", omittingEmptySubsequences: false).map(Array.init)
        guard (1...2).contains(ins.count), !eq.contains(".") else {
            throw GraphError.badInput("einsum '\(equation)': supports one or two operands without ellipsis")
        }
        let out = Array(sides[1])
        for labels in ins where Set(labels).count != labels.count {
            throw GraphError.badInput("einsum '\(equation)': subscripts \(String(labels)) repeat a label (diagonals are not supported)")
        }
        guard Set(out).count == out.count else {
            throw GraphError.badInput("einsum '\(equation)': output subscripts \(String(out)) repeat a label")
        }
        if let missing = out.first(where: { l in !ins.contains { $0.contains(l) } }) {
            throw GraphError.badInput("einsum '\(equation)': output label '\(missing)' is in no operand")
        }
        self.equation = equation
        operands = ins
        self.output = out
    }
}

extension EinsumSpec: CustomStringConvertible {
    public var description: String { equation }
}
