// GenerateRequest: the query parameters of GET /generate, validated. Every problem is one
// message naming the parameter and what was wrong (the server answers it as a 400).

import Diffusion
import Foundation
import ModelIO

struct RequestError: Error, CustomStringConvertible {
    let description: String
    /// The HTTP status it is answered with: 400, or 404 for an unknown model.
    let status: Int
    init(_ message: String, status: Int = 400) {
        description = message
        self.status = status
    }
}

struct GenerateRequest {
    static let known = ["steps", "n", "seed", "sampler", "eta", "timestep_spacing", "clip_sample", "rederive_noise", "model", "class"]

    let model: ServedModel
    let n: Int
    let seed: UInt64
    let sampler: SamplerOptions
    /// Class labels (class-conditional models): one for all samples or one per sample; nil draws them from the seed.
    let classLabels: [Int]?

    init(query: [(String, String?)], models: [ServedModel], options: ServerOptions) throws {
        var values: [String: String] = [:]
        for (key, value) in query {
            guard Self.known.contains(key) else {
                throw RequestError("unknown parameter '\(key)' (known: \(Self.known.joined(separator: ", ")))")
            }
            guard values[key] == nil else { throw RequestError("parameter '\(key)' given more than once") }
            guard let value, !value.isEmpty else { throw RequestError("parameter '\(key)' has no value") }
            values[key] = value
        }
        func integer(_ key: String, _ range: ClosedRange<Int>) throws -> Int? {
            guard let text = values[key] else { return nil }
            guard let v = Int(text) else { throw RequestError("\(key) must be an integer, got '\(text)'") }
            guard range.contains(v) else { throw RequestError("\(key) must be \(range.lowerBound)…\(range.upperBound), got \(v)") }
            return v
        }

        if let name = values["model"] {
            guard let m = models.first(where: { $0.name == name }) else {
                throw RequestError("unknown model '\(name)' (served: \(models.map(\.name).joined(separator: ", ")))", status: 404)
            }
            model = m
        } else {
            model = models[0]
        }
        let timesteps = model.stepper.schedule.trainingTimesteps
        let steps = try integer("steps", 1...min(options.maxSteps, timesteps)) ?? min(options.defaultSteps, timesteps, options.maxSteps)
        n = try integer("n", 1...options.maxN) ?? 1
        if let text = values["seed"] {
            guard let s = UInt64(text) else { throw RequestError("seed must be an integer 0…\(UInt64.max), got '\(text)'") }
            seed = s
        } else {
            seed = UInt64.random(in: 0...UInt64.max)
        }
        var o = model.stepper.defaultSamplerOptions(steps: steps)
        if let name = values["sampler"] {
            guard let kind = SamplerKind(rawValue: name) else {
                throw RequestError("unknown sampler '\(name)' (use \(SamplerKind.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            o.kind = kind
        }
        if let text = values["eta"] {
            guard let eta = Double(text), eta >= 0, eta <= 1 else { throw RequestError("eta must be a number in [0, 1], got '\(text)'") }
            o.eta = eta
        }
        if let name = values["timestep_spacing"] {
            guard let spacing = TimestepSpacing(rawValue: name) else {
                throw RequestError("unknown timestep_spacing '\(name)' (use \(TimestepSpacing.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            o.spacing = spacing
        }
        func flag(_ key: String) throws -> Bool? {
            guard let text = values[key] else { return nil }
            switch text {
            case "true", "1": return true
            case "false", "0": return false
            default: throw RequestError("\(key) must be true or false, got '\(text)'")
            }
        }
        if let clip = try flag("clip_sample") { o.clipSample = clip }
        if let rederive = try flag("rederive_noise") { o.rederiveNoise = rederive }
        sampler = o
        if let text = values["class"] {
            guard let classes = model.model.classes else {
                throw RequestError("class: model '\(model.name)' is not class-conditional (it takes no class)")
            }
            let labels = try text.split(separator: ",", omittingEmptySubsequences: false).map { item in
                do { return try classes.label(String(item)) } catch { throw RequestError("class: \(error)") }
            }
            guard labels.count == 1 || labels.count == n else {
                throw RequestError("class: \(labels.count) labels for n=\(n) samples (give one for all, or one per sample)")
            }
            classLabels = labels
        } else {
            classLabels = nil
        }
    }
}
