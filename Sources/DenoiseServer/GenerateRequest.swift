// GenerateRequest: the parameters of one generation request, validated — from GET /generate's
// query string or POST /v1/generate's JSON body or multipart form. The front ends only build a
// `[String: RequestValue]` map (query text, or strictly parsed JSON values); one typed
// validation reads it, so a parameter is checked the same way whichever way it came. Every
// problem is one message naming the parameter and what was wrong (answered as a 400, or a 404
// for an unknown model). Not here: running the request (HTTPServer+Generate.swift).
// Adding a parameter: a `Key` case, then read it in `init(_:models:options:)`. The entry points
// are `package` so the fuzz harnesses (Sources/FuzzTargets) validate untrusted bytes through them.

import Diffusion
import Foundation
import Imaging
import ModelIO
import Tensors

struct RequestError: Error, CustomStringConvertible {
    let description: String
    /// The HTTP status it is answered with: 400, or 404 for an unknown model.
    let status: Int
    init(_ message: String, status: Int = 400) {
        description = message
        self.status = status
    }
}

/// One parameter as the client sent it: query-string text (typed by parsing it), or a JSON value
/// (typed by its JSON type: `"5"` is not an integer).
enum RequestValue {
    case text(String)
    case json(StrictJSON)
    /// An uploaded file of a multipart form (`init_image`, `mask`).
    case file([UInt8])
}

package struct GenerateRequest {
    /// Every parameter a generation request takes, in query and JSON alike.
    enum Key: String, CaseIterable {
        case steps, n, seed, sampler, eta
        case timestepSpacing = "timestep_spacing", clipSample = "clip_sample", rederiveNoise = "rederive_noise"
        case model
        case classLabels = "class"
        /// Classifier-free guidance scale (with `class`, for a model with a null label).
        case guidanceScale = "guidance_scale"
        /// Image-to-image and inpainting: a base64 PNG, how much to regenerate, a base64 PNG mask
        /// (white = regenerate), RePaint jumps, and whether to convert pictures to the model's shape.
        case initImage = "init_image", strength, mask, jumps, resize
        /// Answer as Server-Sent Events (also `Accept: text/event-stream` on POST /v1/generate).
        case stream
    }

    static var known: [String] { Key.allCases.map(\.rawValue) }

    let model: ServedModel
    let n: Int
    let seed: UInt64
    let sampler: SamplerOptions
    /// Class labels (class-conditional models): one for all samples or one per sample; nil draws them from the seed.
    let classLabels: [Int]?
    /// Classifier-free guidance scale (nil: none).
    let guidanceScale: Double?
    /// Whether the client asked for a Server-Sent Events stream.
    let stream: Bool
    /// Image-to-image / inpainting settings (`init_image`, `strength`, `mask`, `jumps`), as the
    /// library takes them; nil without `init_image`.
    let image: (initImage: Tensor, strength: Double, mask: Tensor?, jumps: Int)?

    /// Validates GET /generate's query items (in order; a repeated or empty one is an error).
    package init(query: [(String, String?)], models: [ServedModel], options: ServerOptions) throws {
        var values: [String: RequestValue] = [:]
        for (key, value) in query {
            guard values[key] == nil else { throw RequestError("parameter '\(key)' given more than once") }
            guard let value, !value.isEmpty else { throw RequestError("parameter '\(key)' has no value") }
            values[key] = .text(value)
        }
        try self.init(values, models: models, options: options)
    }

    /// Validates POST /v1/generate's body: one JSON object of parameters, no key twice.
    package init(json body: [UInt8], models: [ServedModel], options: ServerOptions) throws {
        let document: StrictJSON
        do { document = try StrictJSON.parse(body) } catch { throw RequestError("malformed JSON body: \(error)") }
        guard case .object(let keys, let members) = document else {
            throw RequestError("the JSON body must be an object of parameters, got \(document.kind)")
        }
        var values: [String: RequestValue] = [:]
        for (key, value) in zip(keys, members) {
            guard values[key] == nil else { throw RequestError("parameter '\(key)' given more than once") }
            values[key] = .json(value)
        }
        try self.init(values, models: models, options: options)
    }

    /// Validates POST /v1/generate's `multipart/form-data` body: each field a parameter as in a
    /// query string, `init_image` and `mask` also as uploaded files (the PNG's bytes).
    package init(form body: [UInt8], boundary: String, models: [ServedModel], options: ServerOptions) throws {
        var values: [String: RequestValue] = [:]
        for part in try MultipartForm.parse(body, boundary: boundary) {
            guard values[part.name] == nil else { throw RequestError("parameter '\(part.name)' given more than once") }
            if part.filename != nil {
                guard part.name == Key.initImage.rawValue || part.name == Key.mask.rawValue else {
                    throw RequestError("\(part.name) was uploaded as a file; only init_image and mask take files")
                }
                values[part.name] = .file(part.value)
            } else {
                let text = String(decoding: part.value, as: UTF8.self)
                guard !text.isEmpty else { throw RequestError("parameter '\(part.name)' has no value") }
                values[part.name] = .text(text)
            }
        }
        try self.init(values, models: models, options: options)
    }

    /// Validates POST /v1/generate's body as its Content-Type says: a `multipart/form-data` form
    /// (``init(form:boundary:models:options:)``), anything else a JSON object (``init(json:models:options:)``).
    package init(body: [UInt8], contentType: String?, models: [ServedModel], options: ServerOptions) throws {
        if let boundary = contentType.flatMap(MultipartForm.boundary) {
            try self.init(form: body, boundary: boundary, models: models, options: options)
        } else {
            try self.init(json: body, models: models, options: options)
        }
    }

    /// The one validation of both front ends.
    init(_ values: [String: RequestValue], models: [ServedModel], options: ServerOptions) throws {
        for key in values.keys.sorted() where Key(rawValue: key) == nil {
            throw RequestError("unknown parameter '\(key)' (known: \(Self.known.joined(separator: ", ")))")
        }
        let p = Parameters(values: values)

        if let name = try p.string(.model) {
            guard let m = models.first(where: { $0.name == name }) else {
                throw RequestError("unknown model '\(name)' (served: \(models.map(\.name).joined(separator: ", ")))", status: 404)
            }
            model = m
        } else {
            model = models[0]
        }
        let timesteps = model.stepper.schedule.trainingTimesteps
        let steps = try p.integer(.steps, 1...min(options.maxSteps, timesteps)) ?? min(options.defaultSteps, timesteps, options.maxSteps)
        n = try p.integer(.n, 1...options.maxN) ?? 1
        seed = try p.seed(.seed) ?? UInt64.random(in: 0...UInt64.max)
        var o = model.stepper.defaultSamplerOptions(steps: steps)
        if let name = try p.string(.sampler) {
            guard let kind = SamplerKind(rawValue: name) else {
                throw RequestError("unknown sampler '\(name)' (use \(SamplerKind.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            o.kind = kind
        }
        if let eta = try p.number(.eta) {
            guard eta >= 0, eta <= 1 else { throw RequestError("eta must be a number in [0, 1], got \(eta)") }
            o.eta = eta
        }
        if let name = try p.string(.timestepSpacing) {
            guard let spacing = TimestepSpacing(rawValue: name) else {
                throw RequestError("unknown timestep_spacing '\(name)' (use \(TimestepSpacing.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            o.spacing = spacing
        }
        if let clip = try p.flag(.clipSample) { o.clipSample = clip }
        if let rederive = try p.flag(.rederiveNoise) { o.rederiveNoise = rederive }
        sampler = o
        if let items = try p.list(.classLabels) {
            guard let classes = model.model.classes else {
                throw RequestError("class: model '\(model.name)' is not class-conditional (it takes no class)")
            }
            let labels = try items.map { item in
                do { return try classes.label(item) } catch { throw RequestError("class: \(error)") }
            }
            guard labels.count == 1 || labels.count == n else {
                throw RequestError("class: \(labels.count) labels for n=\(n) samples (give one for all, or one per sample)")
            }
            classLabels = labels
        } else {
            classLabels = nil
        }
        if let scale = try p.number(.guidanceScale) {
            guard let classes = model.model.classes else {
                throw RequestError("guidance_scale: model '\(model.name)' is not class-conditional (guidance needs classes and a null label)")
            }
            guard classes.nullLabel != nil else {
                throw RequestError("guidance_scale: model '\(model.name)' has no null label (guidance needs a model trained with label dropout)")
            }
            guard classLabels != nil else { throw RequestError("guidance_scale needs class (the class to guide towards)") }
            guidanceScale = scale
        } else {
            guidanceScale = nil
        }
        stream = try p.flag(.stream) ?? false

        let resize = try p.flag(.resize) ?? false
        if let picture = try p.png(.initImage) {
            let shape = model.model.imageShape
            let initImage: Tensor
            do { initImage = try ImageConversion.tensor(from: picture, shape: shape, resize: resize) } catch {
                throw RequestError("init_image: \(error)")
            }
            var mask: Tensor?
            if let m = try p.png(.mask) {
                do { mask = try ImageConversion.mask(from: m, height: shape[1], width: shape[2], resize: resize) } catch {
                    throw RequestError("mask: \(error)")
                }
            }
            let strength = try p.number(.strength) ?? GenerationOptions.defaultStrength(inpainting: mask != nil)
            guard strength > 0, strength <= 1 else { throw RequestError("strength must be a number in (0, 1], got \(strength)") }
            let jumps = try p.integer(.jumps, 0...BatchStepper.maxJumps) ?? 0
            guard jumps == 0 || mask != nil else { throw RequestError("jumps needs a mask (RePaint resampling is for inpainting)") }
            image = (initImage, strength, mask, jumps)
        } else {
            for key in [Key.strength, .mask, .jumps, .resize] where values[key.rawValue] != nil {
                throw RequestError("\(key.rawValue) needs init_image")
            }
            image = nil
        }
    }
}

/// Typed reads of a request's values; each error names the key and what was sent.
private struct Parameters {
    let values: [String: RequestValue]

    /// What was sent, for an error message: `'abc'` for query text, `a string` for JSON.
    private func shown(_ v: RequestValue) -> String {
        switch v {
        case .text(let t): return "'\(t)'"
        case .json(let j): return j.kind
        case .file(let b): return "an uploaded file of \(b.count) bytes"
        }
    }

    func integer(_ key: GenerateRequest.Key, _ range: ClosedRange<Int>) throws -> Int? {
        guard let v = values[key.rawValue] else { return nil }
        let value: Int
        switch v {
        case .text(let t):
            guard let i = Int(t) else { throw RequestError("\(key.rawValue) must be an integer, got '\(t)'") }
            value = i
        case .json(.integer(let i)): value = i
        case .json(let j): throw RequestError("\(key.rawValue) must be an integer, got \(j.kind)")
        case .file: throw RequestError("\(key.rawValue) must be a form field, not an uploaded file")
        }
        guard range.contains(value) else { throw RequestError("\(key.rawValue) must be \(range.lowerBound)…\(range.upperBound), got \(value)") }
        return value
    }

    /// 0…2^64−1 (JSON integers above Int.max arrive as written).
    func seed(_ key: GenerateRequest.Key) throws -> UInt64? {
        guard let v = values[key.rawValue] else { return nil }
        let text: String
        switch v {
        case .text(let t): text = t
        case .json(.integer(let i)): text = String(i)
        case .json(.number(let s)): text = s
        case .json(let j): throw RequestError("\(key.rawValue) must be an integer 0…\(UInt64.max), got \(j.kind)")
        case .file: throw RequestError("\(key.rawValue) must be a form field, not an uploaded file")
        }
        guard let s = UInt64(text) else { throw RequestError("\(key.rawValue) must be an integer 0…\(UInt64.max), got '\(text)'") }
        return s
    }

    func number(_ key: GenerateRequest.Key) throws -> Double? {
        guard let v = values[key.rawValue] else { return nil }
        switch v {
        case .text(let t), .json(.number(let t)):
            guard let d = Double(t), d.isFinite else { throw RequestError("\(key.rawValue) must be a number, got '\(t)'") }
            return d
        case .json(.integer(let i)): return Double(i)
        case .json(let j): throw RequestError("\(key.rawValue) must be a number, got \(j.kind)")
        case .file: throw RequestError("\(key.rawValue) must be a form field, not an uploaded file")
        }
    }

    /// A PNG: an uploaded file's bytes, or base64 text (standard alphabet; in a query string a '+'
    /// may arrive as a space; a `data:` URL is accepted).
    func png(_ key: GenerateRequest.Key) throws -> Image8? {
        if case .file(let bytes)? = values[key.rawValue] {
            do { return try PNG.decode(Data(bytes), path: key.rawValue) } catch { throw RequestError("\(key.rawValue) is not a PNG: \(error)") }
        }
        guard var text = try string(key) else { return nil }
        if case .text? = values[key.rawValue] { text = text.replacingOccurrences(of: " ", with: "+") }
        if let comma = text.firstIndex(of: ","), text.hasPrefix("data:") { text = String(text[text.index(after: comma)...]) }  // a data: URL
        guard let data = Data(base64Encoded: text, options: .ignoreUnknownCharacters), !data.isEmpty else {
            throw RequestError("\(key.rawValue) is not base64 (send the PNG file's bytes base64-encoded)")
        }
        do { return try PNG.decode(data, path: key.rawValue) } catch { throw RequestError("\(key.rawValue) is not a PNG: \(error)") }
    }

    func string(_ key: GenerateRequest.Key) throws -> String? {
        guard let v = values[key.rawValue] else { return nil }
        switch v {
        case .text(let t): return t
        case .json(.string(let s)):
            guard !s.isEmpty else { throw RequestError("parameter '\(key.rawValue)' has no value") }
            return s
        case .json(let j): throw RequestError("\(key.rawValue) must be a string, got \(j.kind)")
        case .file: throw RequestError("\(key.rawValue) must be a form field, not an uploaded file")
        }
    }

    /// Query: `true`/`1`, `false`/`0`. JSON: a boolean.
    func flag(_ key: GenerateRequest.Key) throws -> Bool? {
        guard let v = values[key.rawValue] else { return nil }
        switch v {
        case .text("true"), .text("1"), .json(.bool(true)): return true
        case .text("false"), .text("0"), .json(.bool(false)): return false
        case .text, .json, .file: throw RequestError("\(key.rawValue) must be true or false, got \(shown(v))")
        }
    }

    /// Query: comma-separated items. JSON: an integer, a string, or a non-empty array of them.
    func list(_ key: GenerateRequest.Key) throws -> [String]? {
        guard let v = values[key.rawValue] else { return nil }
        func item(_ j: StrictJSON) throws -> String {
            switch j {
            case .integer(let i): return String(i)
            case .string(let s): return s
            case .object, .array, .number, .bool, .null:
                throw RequestError("\(key.rawValue) must be an integer, a string or an array of them, got \(j.kind)")
            }
        }
        switch v {
        case .text(let t): return t.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        case .json(.array(let items)):
            guard !items.isEmpty else { throw RequestError("\(key.rawValue) must not be an empty array") }
            return try items.map(item)
        case .json(let j): return [try item(j)]
        case .file: throw RequestError("\(key.rawValue) must be a form field, not an uploaded file")
        }
    }
}
