// FuzzTarget: one harness per kind of untrusted input denoise reads — model files (ONNX,
// safetensors, model.json, .npy, PyTorch checkpoints), pictures and datasets (PNG, IDX) and the
// server's generation requests (query strings, JSON bodies, multipart forms). Each harness hands
// the bytes to the entry point the product itself uses and then goes on as the product would
// (reads every tensor, converts the picture); `run` says whether the product accepted the input or
// refused it, and with which error. A refusal is the right answer to bad bytes; a crash, a hang
// or a huge allocation is a bug. libFuzzer drives these through `denoise-fuzz` (scripts/fuzz.sh);
// the FuzzTargetsTests replay the committed corpus and regression inputs through the same calls.
// The harness bodies: ModelFileHarnesses.swift, ImageHarnesses.swift, RequestHarnesses.swift.

import Foundation

/// An untrusted input kind, named as on the command line and in `fuzz/corpus/<name>/`.
public enum FuzzTarget: String, CaseIterable, Sendable {
    case onnx
    case safetensors
    case modelJSON = "model-json"
    case npy
    case torch
    case png
    case idx
    case query
    case json
    case form

    /// What one input did to the product.
    public enum Outcome: Sendable, Equatable {
        /// The product read the input (and everything the harness read from it).
        case accepted
        /// The product refused it with this error message.
        case refused(String)

        public var message: String? {
            if case .refused(let m) = self { return m }
            return nil
        }
    }

    /// What the bytes of one input are, for `--help` texts.
    public var inputDescription: String {
        switch self {
        case .onnx: return "an .onnx file (ModelLoader.open(onnx:path:) → ONNXImporter.load(data:path:), then BatchStepper as serving does)"
        case .safetensors: return "a .safetensors file (SafeTensors.read(bytes:name:), then every tensor)"
        case .modelJSON: return "a native model.json (ModelDocument.read(_:path:), then its schedule validated)"
        case .npy: return "a .npy file (NumPy.decode(_:path:))"
        case .torch: return "a torch.save file (TorchCheckpoint.read(bytes:name:), then every tensor)"
        case .png: return "a PNG (PNG.decode(_:path:), then ImageConversion.tensor and .mask)"
        case .idx: return "an IDX file, raw or gzipped (IDX.images(bytes:path:) and IDX.labels(bytes:path:))"
        case .query: return "a GET /generate query string, without '?' (QueryString.items, GenerateRequest(query:))"
        case .json: return "a POST /v1/generate JSON body (GenerateRequest(json:))"
        case .form: return "a Content-Type line, CRLF, then a POST /v1/generate body (GenerateRequest(body:contentType:))"
        }
    }

    /// Runs this target's harness on one input.
    public func run(_ bytes: [UInt8]) -> Outcome {
        do {
            switch self {
            case .onnx: try ModelFileHarnesses.onnx(bytes)
            case .safetensors: try ModelFileHarnesses.safetensors(bytes)
            case .modelJSON: try ModelFileHarnesses.modelJSON(bytes)
            case .npy: try ModelFileHarnesses.npy(bytes)
            case .torch: try ModelFileHarnesses.torch(bytes)
            case .png: try ImageHarnesses.png(bytes)
            case .idx: try ImageHarnesses.idx(bytes)
            case .query: try RequestHarnesses.query(bytes)
            case .json: try RequestHarnesses.json(bytes)
            case .form: try RequestHarnesses.form(bytes)
            }
            return .accepted
        } catch {
            return .refused("\(error)")
        }
    }

    /// Does the one-time work of a harness (loading the served models) so the first input does
    /// not pay for it.
    public func prepare() {
        switch self {
        case .query, .json, .form: _ = RequestHarnesses.models
        case .onnx, .safetensors, .modelJSON, .npy, .torch, .png, .idx: break
        }
    }
}
