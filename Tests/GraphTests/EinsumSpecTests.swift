// EinsumSpec: equations parsed once where they enter the IR — subscripts per operand and for the
// output, unsupported forms refused with the equation named, the JSON form the bare equation
// string in the native format, an ONNX Einsum node with an unsupported
// equation refused at import naming the node, and the parsed spec run against matmul.

import Foundation
import Testing
@testable import Graphs
@testable import ModelIO
import Tensors
import TestSupport

private let fixtures = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
private let attentionModel = fixtures.appendingPathComponent("onnx/ddpm_unet_small/ddpm_unet_small.ts.onnx").path

@Suite struct EinsumSpecTests {
    @Test func parsesSubscriptsIgnoringSpaces() throws {
        let spec = try EinsumSpec("b h i d, b h j d -> b h i j")
        #expect(spec.equation == "b h i d, b h j d -> b h i j")
        #expect(spec.operands == [Array("bhid"), Array("bhjd")])
        #expect(spec.output == Array("bhij"))
        let transpose = try EinsumSpec("ij->ji")
        #expect(transpose.operands == [Array("ij")] && transpose.output == Array("ji"))
        let total = try EinsumSpec("ij->")
        #expect(total.operands == [Array("ij")] && total.output.isEmpty)
    }

    @Test func refusesUnsupportedEquationsNamingThem() {
        let refused: [(equation: String, reason: String)] = [
            ("ij,jk", "explicit '->'"), ("ij->ji->ij", "explicit '->'"),
            ("ij,jk,kl->il", "one or two operands"), ("...ij->...ji", "without ellipsis"),
            ("ii->i", "repeat a label"), ("ij->ii", "repeat a label"), ("ij,jk->iz", "'z' is in no operand"),
        ]
        for (equation, reason) in refused {
            do {
                _ = try EinsumSpec(equation)
                Issue.record("'\(equation)' was accepted")
            } catch {
                #expect("\(error)".contains("einsum '\(equation)'") && "\(error)".contains(reason), "\(error)")
            }
        }
    }

    /// The native format writes the bare equation string as attribute `equation`; reading parses
    /// it again, and an unsupported equation in a model.json is an error naming the node.
    @Test func nativeFormatKeepsTheEquation() throws {
        var g = Graph()
        let a = g.addValue(ValueInfo(name: "a", dims: [.fixed(2), .fixed(3)])), b = g.addValue(ValueInfo(name: "b", dims: [.fixed(3), .fixed(4)]))
        let y = g.addValue(ValueInfo(name: "y"))
        g.nodes = [Node(.einsum(try EinsumSpec("ij, jk -> ik")), inputs: [a, b], outputs: [y], name: "product")]
        (g.inputs, g.outputs) = ([a, b], [y])
        let folder = try temporaryFolder()
        try DiffusionModel(graph: g, schedule: ScheduleConfig(), imageShape: [1, 2, 3]).write(to: folder)
        let json = try String(contentsOfFile: folder + "/model.json", encoding: .utf8)
        #expect(json.contains(#""op": "einsum""#) && json.contains(#""equation": "ij, jk -> ik""#))
        guard case .einsum(let spec) = try DiffusionModel.readNative(folder).graph.nodes[0].op else { Issue.record("not einsum"); return }
        #expect(spec == (try EinsumSpec("ij, jk -> ik")))
        try Data(json.replacingOccurrences(of: "ij, jk -> ik", with: "ij").utf8).write(to: URL(fileURLWithPath: folder + "/model.json"))
        #expect { try DiffusionModel.readNative(folder) } throws: { "\($0)".contains("'product'") && "\($0)".contains("equation") }
    }

    @Test func onnxImportRefusesAnUnsupportedEquation() throws {
        var model = try ONNXModel(contentsOf: attentionModel)
        let index = try #require(model.nodes.firstIndex { $0.opType == "Einsum" })
        model.nodes[index].attributes["equation"]?.string = "b h i d, b h j d"
        do {
            _ = try ONNXImporter.importModel(model)
            Issue.record("an Einsum without '->' was imported")
        } catch {
            for part in [model.nodes[index].name, "Einsum", "einsum 'b h i d, b h j d'", "explicit '->'", "ddpm_unet_small.ts.onnx"] {
                #expect("\(error)".contains(part), "message lacks '\(part)': \(error)")
            }
        }
    }

    @Test func runsAsBatchedMatMul() throws {
        var rng = TestRNG(seed: 3)
        let a = Tensor(shape: [2, 3, 4], scalars: (0..<24).map { _ in Float.random(in: -1...1, using: &rng) })
        let b = Tensor(shape: [2, 4, 5], scalars: (0..<40).map { _ in Float.random(in: -1...1, using: &rng) })
        let interpreter = Interpreter(cpu: CPU(threads: 2))
        let product = try interpreter.einsum(EinsumSpec("bij,bjk->bik"), [a, b])
        #expect(product.shape == [2, 3, 5])
        #expect(relativeError(product, try interpreter.cpu.matmul(a, b)) < 1e-6)
        let transposed = try interpreter.einsum(EinsumSpec("bij,bkj->bki"), [a, try interpreter.cpu.permute(b, [0, 2, 1])])
        #expect(relativeError(transposed, try interpreter.cpu.permute(product, [0, 2, 1])) < 1e-6)
        do {
            _ = try interpreter.einsum(EinsumSpec("bij,bjk->bik"), [a])
            Issue.record("two subscripts ran on one operand")
        } catch {
            #expect("\(error)".contains("einsum 'bij,bjk->bik'") && "\(error)".contains("2 operand subscripts for 1 operands"), "\(error)")
        }
    }
}
