// TorchCheckpoint on files PyTorch wrote (Fixtures/pytorch, made by
// `/work/venv/bin/python scripts/make_pickle_fixtures.py`): every value of each file equals the
// tagged tree in its .json (dtypes converted as documented, bit for bit), views keep their storage,
// state dicts flatten, and what must be refused (a forbidden global, the legacy format) is refused
// with a message naming the file and the reason. Hostile and damaged input: TorchCheckpointRobustnessTests.

import Foundation
import Graphs
import Testing
@testable import ModelIO
import Tensors

private let regenerate = "regenerate with `/work/venv/bin/python scripts/make_pickle_fixtures.py`"

func pytorchFixture(_ name: String, _ ext: String = "pt") throws -> String {
    try #require(Bundle.module.url(forResource: name, withExtension: ext, subdirectory: "Fixtures/pytorch"),
                 "missing fixture \(name).\(ext); \(regenerate)").path
}

/// Where `value` differs from the tagged expected tree (see make_pickle_fixtures.py), or nil.
private func mismatch(_ value: PickleValue, _ expected: Any, at path: String = "root") -> String? {
    guard let tagged = expected as? [String: Any], tagged.count == 1, let (tag, body) = tagged.first else {
        return "\(path): malformed expectation \(expected)"
    }
    func differs(_ what: String) -> String { "\(path): expected \(tag) \(body), read \(value.kind) \(what)" }
    func sequence(_ items: [PickleValue]) -> String? {
        guard let expectedItems = body as? [Any], expectedItems.count == items.count else { return differs("of \(items.count) items") }
        for (i, (v, e)) in zip(items, expectedItems).enumerated() {
            if let m = mismatch(v, e, at: "\(path)[\(i)]") { return m }
        }
        return nil
    }
    func sameFloat(_ a: Float, _ b: Float) -> Bool { a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN) }
    switch (tag, value) {
    case ("none", .null): return nil
    case ("bool", .bool(let b)): return (body as? Bool) == b ? nil : differs("\(b)")
    case ("int", .int(let n)): return Int64(body as? String ?? "") == n ? nil : differs("\(n)")
    case ("float", .float(let x)):
        guard let e = Double(body as? String ?? "") else { return differs("(bad expectation)") }
        return x.bitPattern == e.bitPattern || (x.isNaN && e.isNaN) ? nil : differs("\(x)")
    case ("str", .string(let s)): return body as? String == s ? nil : differs("'\(s)'")
    case ("bytes", .bytes(let b)): return body as? String == b.map { String(format: "%02x", $0) }.joined() ? nil : differs("\(b)")
    case ("list", .list(let items)), ("tuple", .tuple(let items)): return sequence(items)
    case ("dict", .dict(let d)):
        guard let pairs = body as? [[Any]], pairs.count == d.count else { return differs("of \(d.count) entries") }
        for (k, pair) in pairs.enumerated() {
            let key: PickleValue = switch d.keys[k] { case .string(let s): .string(s); case .int(let n): .int(n) }
            if let m = mismatch(key, pair[0], at: "\(path) key \(k)") { return m }
            if let m = mismatch(d.values[k], pair[1], at: "\(path)['\(d.keys[k])']") { return m }
        }
        return nil
    case ("tensor", .tensor(let t)):
        guard let spec = body as? [String: Any], let dtype = spec["dtype"] as? String, let shape = spec["shape"] as? [Int],
              let values = spec["values"] as? [String] else { return differs("(bad expectation)") }
        guard t.dtype.rawValue == dtype, Array(t.shape) == shape else { return differs("") }
        switch t.value() {
        case .float(let f):
            guard t.dtype.isFloatingPoint, f.shape == t.shape, f.count == values.count else { return differs("as float32") }
            for (i, s) in values.enumerated() where !sameFloat(f.pointer[i], Float(Double(s) ?? .nan)) {
                return "\(path): element \(i) is \(f.pointer[i]), expected \(s)"
            }
        case .int(let n):
            guard !t.dtype.isFloatingPoint, n.values.map(String.init) == values else { return differs("\(n.values)") }
            // floatTensor gives the same integers as floats.
            guard t.floatTensor().scalars == n.values.map(Float.init) else { return "\(path): floatTensor differs from the integers" }
        }
        return nil
    default:
        return differs("")
    }
}

@Suite struct TorchCheckpointTests {
    @Test(arguments: ["state_dict", "module", "nested", "nested_p4", "milestone"])
    func everyValueMatchesPython(_ name: String) throws {
        let checkpoint = try TorchCheckpoint.read(try pytorchFixture(name))
        let json = try JSONSerialization.jsonObject(with: try Data(contentsOf: URL(fileURLWithPath: try pytorchFixture(name, "json"))))
        let problem = mismatch(checkpoint.root, json)
        #expect(problem == nil, "\(name).pt: \(problem ?? ""); \(regenerate)")
    }

    /// The comparison above is not vacuous.
    @Test func comparisonSeesDifferences() throws {
        #expect(mismatch(.int(3), ["int": "3"]) == nil && mismatch(.int(3), ["int": "4"]) != nil)
        #expect(mismatch(.float(-0.0), ["float": "0.0"]) != nil && mismatch(.float(.nan), ["float": "nan"]) == nil)
        #expect(mismatch(.tuple([.null]), ["list": [["none": NSNull()]]]) != nil)
        let tensor = try #require(try TorchCheckpoint.read(try pytorchFixture("state_dict")).root["scalar"])
        #expect(mismatch(tensor, ["tensor": ["dtype": "float32", "shape": [Int](), "values": ["3.25"]]]) == nil)
        #expect(mismatch(tensor, ["tensor": ["dtype": "float32", "shape": [Int](), "values": ["3.5"]]]) != nil)
        #expect(mismatch(tensor, ["tensor": ["dtype": "float16", "shape": [Int](), "values": ["3.25"]]]) != nil)
    }

    @Test func viewsKeepTheirStorage() throws {
        let checkpoint = try TorchCheckpoint.read(try pytorchFixture("state_dict"))
        let tensors = Dictionary(uniqueKeysWithValues: try checkpoint.tensors().map { ($0.name, $0.tensor) })
        let base = try #require(tensors["f32"]), transposed = try #require(tensors["transposed"])
        let strided = try #require(tensors["strided"]), offset = try #require(tensors["offset_view"])
        #expect(base.isContiguous && base.strides == [4, 1] && base.storageOffset == 0)
        #expect(transposed.storageKey == base.storageKey && !transposed.isContiguous && transposed.strides == [1, 4])
        #expect(strided.storageKey == base.storageKey && strided.strides == [4, 2] && strided.shape == [3, 2])
        #expect(offset.storageKey == base.storageKey && offset.storageOffset == 2 && offset.floatTensor().scalars == [0.25, 0.375, 0.5, 0.625, 0.75])
        #expect(tensors["expanded"]?.strides == [0, 0])
        #expect(transposed.floatTensor().scalars == [0, 0.5, 1, 0.125, 0.625, 1.125, 0.25, 0.75, 1.25, 0.375, 0.875, 1.375])
        // File order is kept.
        #expect(try checkpoint.tensors().map(\.name).prefix(4) == ["f32", "transposed", "strided", "offset_view"])
    }

    /// denoising-diffusion-pytorch's Trainer milestone, read as the U-Net importer will.
    @Test func milestoneStateDicts() throws {
        let path = try pytorchFixture("milestone")
        let checkpoint = try TorchCheckpoint.read(path)
        #expect(checkpoint.root["step"]?.int == 1234)
        #expect(checkpoint.root["version"]?.string == "2.1.1")
        if case .null? = checkpoint.root["scaler"] {} else { Issue.record("scaler is \(checkpoint.root["scaler"]?.kind ?? "absent")") }

        let model = try checkpoint.stateDict(at: ["model"])
        #expect(model.keys.sorted() == ["0.bias", "0.weight", "1.bias", "1.weight", "3.bias", "3.weight",
                                        "4.bias", "4.num_batches_tracked", "4.running_mean", "4.running_var", "4.weight"])
        #expect(model["0.weight"]?.shape == [4, 1, 3, 3] && model["4.num_batches_tracked"]?.scalars == [2])

        let ema = try checkpoint.stateDict(at: ["ema"])
        #expect(ema["initted"]?.scalars == [1] && ema["step"]?.scalars == [1234])
        let w = try #require(model["0.weight"]), emaW = try #require(ema["ema_model.0.weight"])
        #expect(emaW.scalars == w.scalars.map { $0 * 0.5 + 0.25 })

        let optimizerState = try checkpoint.tensors(at: ["opt", "state"])
        #expect(optimizerState.map(\.name).prefix(3) == ["0.step", "0.exp_avg", "0.exp_avg_sq"])
        #expect(optimizerState.first?.tensor.floatTensor().scalars == [2])
        #expect(try checkpoint.value(at: ["opt", "param_groups", "0", "lr"]).double == 8e-5)
        #expect(try checkpoint.value(at: ["opt", "param_groups", "0", "betas"]).items?.compactMap(\.double) == [0.9, 0.99])

        do { _ = try checkpoint.stateDict(at: ["opt"]); Issue.record("no error") } catch {
            #expect("\(error)" == "\(path): 'param_groups' in ['opt'] is a list, not a tensor or dict", "\(error)")
        }
        do { _ = try checkpoint.stateDict(at: ["emma"]); Issue.record("no error") } catch {
            #expect("\(error)".hasPrefix("\(path): no key 'emma' in the top level (its 6 keys: 'step', 'model', 'opt', 'ema', 'scaler', 'version')"), "\(error)")
        }
        do { _ = try checkpoint.value(at: ["step", "x"]); Issue.record("no error") } catch {
            #expect("\(error)".contains("['step'] is an int, which has no key 'x'"), "\(error)")
        }
    }

    @Test func forbiddenGlobalIsNamedAndNeverRun() throws {
        let path = try pytorchFixture("forbidden")
        do { _ = try TorchCheckpoint.read(path); Issue.record("no error") } catch let e as ModelFileError {
            #expect(e.path == path)
            #expect(e.problem.contains("forbidden/data.pkl: opcode GLOBAL (0x63) at byte"), "\(e)")
            #expect(e.problem.contains("global 'posix.system' is not allowed"), "\(e)")
        }
    }

    @Test func legacyFormatIsRefused() throws {
        let path = try pytorchFixture("legacy")
        do { _ = try TorchCheckpoint.read(path); Issue.record("no error") } catch {
            #expect("\(error)" == "\(path): legacy torch.save format (before PyTorch 1.6); re-save with a newer PyTorch")
        }
        do { _ = try TorchCheckpoint.read("/nonexistent/model.pt"); Issue.record("no error") } catch {
            #expect("\(error)".hasPrefix("/nonexistent/model.pt: cannot open"), "\(error)")
        }
        do { _ = try TorchCheckpoint.read(bytes: Data([0x80, 0x02, 0x4e, 0x2e]), name: "x.pkl"); Issue.record("no error") } catch {
            #expect("\(error)".hasPrefix("x.pkl: a bare pickle, not a torch.save file"), "\(error)")
        }
        do { _ = try TorchCheckpoint.read(bytes: Data("hello".utf8), name: "x.pt"); Issue.record("no error") } catch {
            #expect("\(error)".hasPrefix("x.pt: not a PyTorch checkpoint"), "\(error)")
        }
    }
}
