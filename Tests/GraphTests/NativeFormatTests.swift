// The native model format (`model.json` version 2, written by hand): the text of a small model is
// byte-for-byte the committed golden file; every op survives write → read; version-1 folders
// (written by the synthesized-Codable writer before version 2) still load, to the same graph and
// outputs as their version-2 rewrite; and broken files give errors naming what is wrong.
// Fixtures: Fixtures/native/v2-small (golden; regenerate with
// `DENOISE_REGENERATE_GOLDEN=1 swift test --filter NativeFormatTests`, then review the diff),
// Fixtures/native/v1-* (frozen: made by DiffusionModel.write at commit 0971bde, which no current
// code can make again). The graphs: NativeFormatGraphs.swift.

import Foundation
import Testing
import Graphs
import ModelIO
import Tensors
import TestSupport

@Suite struct NativeFormatTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/native")
    static let golden = fixtures.appendingPathComponent("v2-small").path

    /// model.json's text with its random write id replaced by a fixed placeholder.
    func normalizedJSON(_ folder: String) throws -> String {
        let text = try String(contentsOfFile: folder + "/model.json", encoding: .utf8)
        return text.replacingOccurrences(of: #""write_id": "[^"]*""#, with: #""write_id": "WRITE-ID""#, options: .regularExpression)
    }

    /// Every tensor of a folder's weights file, by name.
    func weights(_ folder: String) throws -> [String: [Float]] {
        let file = try SafeTensors.read(contentsOf: URL(fileURLWithPath: folder + "/weights.safetensors"))
        return try Dictionary(uniqueKeysWithValues: file.names.map { ($0, try file.tensor($0).scalars) })
    }

    /// The model's outputs on a fixed input of batch 2.
    func outputs(_ model: DiffusionModel) throws -> [[Float]] {
        var rng = TestRNG(seed: 5)
        let x = Tensor(shape: [2, 4, 6, 6], scalars: (0..<288).map { _ in rng.uniform() })
        return try Interpreter(cpu: CPU(threads: 2)).run(model.graph, inputs: [model.graph.inputs[0]: .float(x)]).map { v in
            guard case .float(let t) = v else { throw GraphError.invalid("int output") }
            return t.scalars
        }
    }

    /// What a node is, parameters included, independent of any file format.
    func describe(_ node: Node) -> String { "\(node.name) \(node.op) \(node.inputs) → \(node.outputs)" }

    @Test func smallModelIsTheGoldenFile() throws {
        let model = NativeFormatGraphs.smallModel()
        if ProcessInfo.processInfo.environment["DENOISE_REGENERATE_GOLDEN"] != nil {
            try model.write(to: Self.golden)
            Issue.record("regenerated \(Self.golden); unset DENOISE_REGENERATE_GOLDEN and review the diff")
            return
        }
        let dir = try temporaryFolder()
        try model.write(to: dir)
        #expect(try normalizedJSON(dir) == normalizedJSON(Self.golden),
                "model.json changed: if intended, regenerate with DENOISE_REGENERATE_GOLDEN=1 swift test --filter NativeFormatTests (and add a format version if old files would read differently)")
        #expect(try weights(dir) == weights(Self.golden))
        // The small model's schedule needs nothing newer than version 2, so it is written as 2.
        #expect(try DiffusionModel.storedFormatVersion(Self.golden) == 2 && NativeFormat.version(for: model.schedule) == 2)
        #expect(try outputs(DiffusionModel.readNative(Self.golden)) == outputs(model))
    }

    /// Version 3: the schedule keys added after version 2 (trained betas, sampler defaults) are
    /// written only when set, and then the file declares version 3.
    @Test func laterScheduleKeysWriteVersion3() throws {
        var model = NativeFormatGraphs.smallModel()
        model.schedule.trainedBetas = (0..<model.schedule.numTrainTimesteps).map { 0.0001 + Double($0) * 1e-5 }
        model.schedule.timestepSpacing = .trailing
        model.schedule.stepsOffset = 1
        model.schedule.setAlphaToOne = false
        model.schedule.useClippedModelOutput = true
        let dir = try temporaryFolder()
        try model.write(to: dir)
        #expect(try DiffusionModel.storedFormatVersion(dir) == 3)
        let text = try String(contentsOfFile: dir + "/model.json", encoding: .utf8)
        for key in ["trained_betas", "timestep_spacing", "steps_offset", "set_alpha_to_one", "use_clipped_model_output"] {
            #expect(text.contains("\"\(key)\""), "\(key) not written")
        }
        #expect(try DiffusionModel.readNative(dir).schedule == model.schedule)
    }

    @Test func everyOpSurvivesWriteAndRead() throws {
        #expect(Set(NativeFormatGraphs.allOps.map(\.kind)) == Set(OpKind.allCases), "the table must cover every OpKind")
        var model = NativeFormatGraphs.allOpsModel()
        // Every spelling of every parameter enum, and floats JSON has no number for.
        let x = model.graph.inputs[0]
        let extra: [Op] = UnaryOp.allCases.map { .unary($0) } + BinaryOp.allCases.map { .binary($0) }
            + ReduceKind.allCases.map { .reduce($0, axes: [0], keepDims: true, noopWithEmptyAxes: false) }
            + Comparison.allCases.map { .compare($0) } + PadFill.allCases.map { .pad($0) } + ElementType.allCases.map { .cast($0) }
            + UnaryOp.allCases.map { .conv(Conv2dOptions(), activation: $0) }
            + RMSNormKind.allCases.map { .rmsNorm(axis: -1, eps: 1e-6, kind: $0) }
            + [.leakyRelu(alpha: -0.5), .elu(alpha: 0.1), .celu(alpha: 2), .selu(alpha: 1, gamma: 2), .hardSigmoid(alpha: 0.2, beta: 0.4)]
                .map { .parametricUnary($0) }
            + NearestSampling.Coordinates.allCases.flatMap { c in
                NearestSampling.Rounding.allCases.map { r in .resize(.nearestSampled(NearestSampling(coordinates: c, rounding: r))) }
            }.filter { if case .resize(.nearestSampled(.pytorch)) = $0 { return false }; return true }
            + [.resize(.cubic(alignCorners: true)), .maxPool(Pool2dWindow(kernel: (2, 2), ceilMode: true))]
            + [.constantOfShape(.float(Tensor(shape: [3], scalars: [-.infinity, .infinity, .nan]))),
               .gemm(transA: false, transB: true, alpha: .infinity, beta: 1e-30),
               .constantOfShape(.int(IntTensor(shape: [2, 1], values: [.max, .min])))]
        for op in extra {
            let out = model.graph.addValue(ValueInfo(name: "extra.\(model.graph.nodes.count)"))
            model.graph.nodes.append(Node(op, inputs: [x, nil], outputs: [out], name: "extra.\(model.graph.nodes.count)"))
        }
        let dir = try temporaryFolder()
        try model.write(to: dir)
        let back = try DiffusionModel.readNative(dir)
        #expect(back.graph.nodes.count == model.graph.nodes.count)
        for (a, b) in zip(model.graph.nodes, back.graph.nodes) { #expect(describe(a) == describe(b)) }
        #expect(back.graph.values.map { "\($0.name) \($0.type) \(String(describing: $0.dims))" }
                == model.graph.values.map { "\($0.name) \($0.type) \(String(describing: $0.dims))" })
        #expect(back.schedule == model.schedule && back.imageShape == model.imageShape)
    }

    @Test func version1FoldersLoadAsTheirVersion2Rewrite() throws {
        let v1 = Self.fixtures.appendingPathComponent("v1-small").path
        #expect(try DiffusionModel.storedFormatVersion(v1) == 1)
        let old = try DiffusionModel.readNative(v1)
        let dir = try temporaryFolder()
        try old.write(to: dir)
        #expect(try normalizedJSON(dir) == normalizedJSON(Self.golden), "a version-1 folder rewritten must equal the golden version-2 file")
        #expect(try weights(dir) == weights(v1))
        let rewritten = try DiffusionModel.readNative(dir)
        #expect(try outputs(old) == outputs(rewritten))
        #expect(try outputs(old) == outputs(NativeFormatGraphs.smallModel()))
        #expect(old.schedule == rewritten.schedule && old.imageShape == rewritten.imageShape && old.graph.metadata == rewritten.graph.metadata)
        // `denoise import OLD --out NEW`'s path: a new model.json, the weights file's bytes kept.
        let copy = try temporaryFolder()
        _ = try DiffusionModel.rewrite(v1, to: copy)
        #expect(try normalizedJSON(copy) == normalizedJSON(Self.golden))
        #expect(FileManager.default.contents(atPath: copy + "/weights.safetensors") == FileManager.default.contents(atPath: v1 + "/weights.safetensors"))
        #expect(try outputs(DiffusionModel.readNative(copy)) == outputs(old))

        // One node per op, as version 1 spelled each (node and value names are the ops' names of
        // then: version 1's `l2Norm` is today's `rmsNorm` of kind l2Scaled).
        let all = try DiffusionModel.readNative(Self.fixtures.appendingPathComponent("v1-all-ops").path)
        let expected = NativeFormatGraphs.allOpsModel(NativeFormatGraphs.version1Ops)
        func unnamed(_ n: Node) -> String { var n = n; n.name = ""; return describe(n) }
        #expect(all.graph.nodes.map(unnamed) == expected.graph.nodes.map(unnamed))
        #expect(all.graph.values.map { "\($0.type) \(String(describing: $0.dims))" }
                == expected.graph.values.map { "\($0.type) \(String(describing: $0.dims))" })
    }

    /// The error reading the golden folder with `model.json` edited by `edit` (which must change it).
    func error(_ edit: (String) -> String) throws -> String {
        let text = try String(contentsOfFile: Self.golden + "/model.json", encoding: .utf8), edited = edit(text)
        #expect(edited != text, "the edit did not apply")
        let dir = try temporaryFolder()
        try FileManager.default.copyItem(atPath: Self.golden + "/weights.safetensors", toPath: dir + "/weights.safetensors")
        try Data(edited.utf8).write(to: URL(fileURLWithPath: dir + "/model.json"))
        do { _ = try DiffusionModel.readNative(dir) } catch let e as ModelFileError { return e.description }
        Issue.record("the edited file loaded")
        return ""
    }

    @Test func brokenFilesNameWhatIsWrong() throws {
        let cases: [(edit: (String) -> String, mentions: [String])] = [
            ({ $0.replacingOccurrences(of: #""op": "pad""#, with: #""op": "padd""#) }, ["unknown op 'padd'", "node 3 'pad'"]),
            ({ $0.replacingOccurrences(of: #""eps": 1e-05, "groups": 2"#, with: #""eps": 1e-05"#) },
             ["node 1 'norm' (groupNorm)", "attribute 'groups' is missing"]),
            ({ $0.replacingOccurrences(of: #""keep_dims""#, with: #""keepdims""#) },
             ["node 4 'mean' (reduce)", "attribute 'keep_dims' is missing", "given: axes, keepdims, kind"]),
            ({ $0.replacingOccurrences(of: #""mode": "reflect""#, with: #""mode": "reflect", "value": 0"#) },
             ["node 3 'pad' (pad)", "unknown attribute 'value' (expected: mode)"]),
            ({ $0.replacingOccurrences(of: #""groups": 2"#, with: #""groups": "2""#) },
             ["node 1 'norm' (groupNorm)", "attribute 'groups' must be an integer, got a string"]),
            ({ $0.replacingOccurrences(of: #""activation": "silu""#, with: #""activation": "swish""#) },
             ["node 0 'conv' (conv)", "attribute 'activation' is 'swish'", "silu"]),
            ({ $0.replacingOccurrences(of: #""format_version": 2"#, with: #""format_version": 4"#) }, ["format version 4", "reads (3)"]),
            ({ $0.replacingOccurrences(of: #""clip_sample": true,"#, with: #""clip_sample": true, "timestep_spacing": "lucidrains","#) },
             ["schedule key 'timestep_spacing' needs format_version 3"]),
            ({ $0.replacingOccurrences(of: #""groups": 2"#, with: #""groups": 2, "groups": 3"#) }, ["not valid JSON", "member 'groups' appears twice"]),
            ({ $0.replacingOccurrences(of: #""format_version": 2,"#, with: #""format_version": 2,,"#) }, ["not valid JSON", "at byte"]),
            ({ $0.replacingOccurrences(of: #""write_id""#, with: #""writeID""#) }, ["key 'write_id' is missing"]),
            ({ $0.replacingOccurrences(of: #""values": [0, 0, 1, 1, 0, 0, 1, 1]"#, with: #""values": [0, 0, 1, 1]"#) },
             ["int_constants", "'6'", "has 4 values for shape [8]"]),
        ]
        for c in cases {
            let message = try error(c.edit)
            for part in c.mentions { #expect(message.contains(part), "'\(part)' missing from: \(message)") }
            #expect(message.contains("model.json"), "\(message)")
        }
    }
}
