// GenerationRecord: how a set of samples was made, and the PNG bytes that carry it (a "parameters"
// tEXt chunk). `denoise generate` and the server both encode through here, so the same settings
// and seed give the same bytes from either. Image-to-image adds `strength=`, inpainting `inpaint=1`
// (and `jumps=`), classifier-free guidance `guidance=`; without them the text is what it always was.

import Foundation
import Imaging
import Tensors

public struct GenerationRecord: Sendable, Equatable {
    /// The model's name (see `modelName(path:)`).
    public var model: String
    public var seed: UInt64
    public var sampler: SamplerOptions
    /// Each sample's class label (class-conditional models; empty otherwise).
    public var classLabels: [Int]
    /// Image-to-image: the strength (nil: no init image; recorded as `strength=`).
    public var strength: Double?
    /// Inpainting (an init image and a mask; recorded as `inpaint=1`) and its RePaint jumps
    /// (recorded as `jumps=` when > 0).
    public var inpaint: Bool
    public var jumps: Int
    /// Classifier-free guidance scale (nil: none; recorded as `guidance=`).
    public var guidance: Double?

    public init(model: String, seed: UInt64, sampler: SamplerOptions, classLabels: [Int] = [],
                strength: Double? = nil, inpaint: Bool = false, jumps: Int = 0, guidance: Double? = nil) {
        self.model = model
        self.seed = seed
        self.sampler = sampler
        self.classLabels = classLabels
        (self.strength, self.inpaint, self.jumps, self.guidance) = (strength, inpaint, jumps, guidance)
    }

    /// The record of `jobs` (one request's samples, in order): their class labels included.
    public init(model: String, seed: UInt64, sampler: SamplerOptions, jobs: [SampleJob]) {
        self.init(model: model, seed: seed, sampler: sampler, classLabels: jobs.compactMap(\.classLabel))
    }

    /// The record of `request` and its `jobs`: seed, sampler, class labels, and the image-to-image
    /// and inpainting settings when it has an init image.
    public init(model: String, request: GenerationOptions, jobs: [SampleJob]) {
        let image = request.initImage != nil, inpaint = image && request.mask != nil
        self.init(model: model, seed: request.seed, sampler: request.sampler, classLabels: jobs.compactMap(\.classLabel),
                  strength: image ? request.strength : nil, inpaint: inpaint, jumps: inpaint ? request.jumps : 0,
                  guidance: request.guidanceScale)
    }

    /// A model's name from its path: the last path component without an `.onnx` extension.
    public static func modelName(path: String) -> String {
        let last = (path as NSString).lastPathComponent
        return last.hasSuffix(".onnx") ? String(last.dropLast(5)) : last
    }

    /// The tEXt "parameters" value for sample `index` (nil: a grid of all samples).
    public func parameters(sample index: Int?) -> String {
        var text = "model=\(model) seed=\(seed) sample=\(index.map(String.init) ?? "grid") steps=\(sampler.steps) sampler=\(sampler.kind.rawValue) "
            + "eta=\(sampler.eta) spacing=\(sampler.spacing.rawValue) prediction=\(sampler.prediction.rawValue)"
        if !classLabels.isEmpty {
            if let index, index < classLabels.count { text += " class=\(classLabels[index])" }
            else if index == nil { text += " classes=" + classLabels.map(String.init).joined(separator: ",") }
        }
        if let strength { text += " strength=\(strength)" }
        if inpaint { text += " inpaint=1" + (jumps > 0 ? " jumps=\(jumps)" : "") }
        if let guidance { text += " guidance=\(guidance)" }
        return text
    }

    /// PNG of sample `index`.
    public func png(_ image: Image8, sample index: Int) throws -> Data {
        try PNG.encode(image, text: [("parameters", parameters(sample: index)), ("Software", "denoise")])
    }

    /// PNG of all samples in one grid, ⌈√n⌉ columns.
    public func gridPNG(_ images: [Image8]) throws -> Data {
        let columns = Int(Double(images.count).squareRoot().rounded(.up))
        return try PNG.encode(Image8.grid(images, columns: columns), text: [("parameters", parameters(sample: nil)), ("Software", "denoise")])
    }
}
