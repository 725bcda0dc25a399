// ModelFileHarnesses: the model-file harnesses — untrusted bytes through the readers `denoise`
// uses on files a user was handed: ONNX models, safetensors weights, native model.json
// documents, .npy arrays and torch.save checkpoints. Each goes as far as loading goes (every
// tensor read and converted), never into compiling or running a graph.

import Diffusion
import Foundation
import ModelIO
import Tensors

enum ModelFileHarnesses {
    /// Where fuzzed model files claim to live: a folder that cannot exist ("/dev/null" is a file),
    /// so an ONNX file naming external data is refused without reading anything from disk.
    static let folder = "/dev/null/fuzz"

    /// An ONNX model as `denoise serve` and `generate` load one: the importer, the schedule and
    /// classes from the metadata, the image shape, then the batch stepper's buffers.
    static func onnx(_ bytes: [UInt8]) throws {
        let model = try ModelLoader.open(onnx: Data(bytes), path: folder + "/model.onnx")
        _ = try BatchStepper(model: model, cpu: CPU(threads: 1))
    }

    /// A safetensors file, validated, then every tensor read as float32 and every integer tensor exactly.
    static func safetensors(_ bytes: [UInt8]) throws {
        let file = try SafeTensors.read(bytes: Data(bytes), name: folder + "/weights.safetensors")
        for entry in file.entries {
            switch entry.dtype {
            case .f8e5m2, .f8e4m3: continue  // recognized, not converted (tensor(_:) says so)
            default: _ = try file.tensor(entry.name)
            }
            if entry.dtype.isInteger { _ = try file.integers(entry.name) }
        }
    }

    /// A native model.json of any format version, then its schedule checked as loading does.
    static func modelJSON(_ bytes: [UInt8]) throws {
        let path = folder + "/model.json"
        let (document, _) = try ModelDocument.read(Data(bytes), path: path)
        _ = try document.schedule.validated(source: path)
    }

    /// A .npy array.
    static func npy(_ bytes: [UInt8]) throws {
        _ = try NumPy.decode(Data(bytes), path: folder + "/array.npy")
    }

    /// A torch.save checkpoint as `denoise import model-N.pt` reads it (a milestone's `model` and
    /// `ema` state dicts, else the whole file as one), then, when the top level is a state dict,
    /// every tensor as a diffusers `.bin` is read, integers included (a tensor shared by several
    /// names converted once, as `stateDict` does).
    static func torch(_ bytes: [UInt8]) throws {
        let checkpoint = try TorchCheckpoint.read(bytes: Data(bytes), name: folder + "/model.pt")
        _ = try LucidrainsCheckpoint.torchStateDict(checkpoint)
        var converted = Set<ObjectIdentifier>()
        for (_, tensor) in (try? checkpoint.tensors()) ?? [] where converted.insert(ObjectIdentifier(tensor)).inserted {
            _ = tensor.value()
        }
    }
}
