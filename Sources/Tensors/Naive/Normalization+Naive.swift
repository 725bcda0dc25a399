// Naive twins of the normalization kernels: per-definition loops in Double, one thread, no SIMD.
// Layouts as in `Kernels/Normalization.swift`, `BatchNorm.swift`, `RMSNorm.swift`.

import Foundation

extension Naive {
    /// `nn.GroupNorm`: x `[N, C, *spatial]`, weight/bias `[C]`; optionally followed by SiLU.
    public static func groupNorm(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Float = 1e-5,
                                 silu: Bool = false) -> Tensor {
        let n = x.shape[0], c = x.shape[1], s = x.shape.product(2..<x.rank), cpg = c / groups
        let out = Tensor(zeros: x.shape)
        for i in 0..<n {
            for g in 0..<groups {
                var sum = 0.0, count = 0.0
                for ch in (g * cpg)..<((g + 1) * cpg) { for j in 0..<s { sum += Double(x.pointer[(i * c + ch) * s + j]); count += 1 } }
                let mean = sum / count
                var sq = 0.0
                for ch in (g * cpg)..<((g + 1) * cpg) { for j in 0..<s { let d = Double(x.pointer[(i * c + ch) * s + j]) - mean; sq += d * d } }
                let rstd = 1 / (sq / count + Double(eps)).squareRoot()
                for ch in (g * cpg)..<((g + 1) * cpg) {
                    let w = Double(weight?.pointer[ch] ?? 1), b = Double(bias?.pointer[ch] ?? 0)
                    for j in 0..<s {
                        let k = (i * c + ch) * s + j
                        let y = (Double(x.pointer[k]) - mean) * rstd * w + b
                        out.pointer[k] = Float(silu ? y / (1 + Foundation.exp(-y)) : y)
                    }
                }
            }
        }
        return out
    }

    /// ONNX InstanceNormalization: each (n, c) plane normalized over spatial.
    public static func instanceNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float = 1e-5) -> Tensor {
        groupNorm(x, groups: x.shape[1], weight: weight, bias: bias, eps: eps)
    }

    /// `nn.LayerNorm` over the last `normalizedRank` axes; weight/bias of those axes' shape.
    public static func layerNorm(_ x: Tensor, normalizedRank: Int, weight: Tensor?, bias: Tensor?, eps: Float = 1e-5) -> Tensor {
        let m = x.shape.product((x.rank - normalizedRank)..<x.rank), rows = x.count / max(m, 1)
        let out = Tensor(zeros: x.shape)
        for r in 0..<rows {
            var sum = 0.0
            for j in 0..<m { sum += Double(x.pointer[r * m + j]) }
            let mean = sum / Double(m)
            var sq = 0.0
            for j in 0..<m { let d = Double(x.pointer[r * m + j]) - mean; sq += d * d }
            let rstd = 1 / (sq / Double(m) + Double(eps)).squareRoot()
            for j in 0..<m {
                let y = (Double(x.pointer[r * m + j]) - mean) * rstd * Double(weight?.pointer[j] ?? 1) + Double(bias?.pointer[j] ?? 0)
                out.pointer[r * m + j] = Float(y)
            }
        }
        return out
    }

    /// `nn.BatchNorm`: batch statistics and in-place running update when `training`, running
    /// statistics otherwise.
    public static func batchNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, runningMean: Tensor, runningVar: Tensor,
                                 training: Bool, momentum: Float = 0.1, eps: Float = 1e-5) -> Tensor {
        let n = x.shape[0], c = x.shape[1], s = x.shape.product(2..<x.rank), count = Double(n * s)
        let out = Tensor(zeros: x.shape)
        for ch in 0..<c {
            var mean = Double(runningMean.pointer[ch]), variance = Double(runningVar.pointer[ch])
            if training {
                var sum = 0.0
                for i in 0..<n { for j in 0..<s { sum += Double(x.pointer[(i * c + ch) * s + j]) } }
                mean = sum / count
                var sq = 0.0
                for i in 0..<n { for j in 0..<s { let d = Double(x.pointer[(i * c + ch) * s + j]) - mean; sq += d * d } }
                variance = sq / count
                let m = Double(momentum)
                runningMean.pointer[ch] = Float((1 - m) * Double(runningMean.pointer[ch]) + m * mean)
                runningVar.pointer[ch] = Float((1 - m) * Double(runningVar.pointer[ch]) + m * sq / (count - 1))
            }
            let rstd = 1 / (variance + Double(eps)).squareRoot()
            let w = Double(weight?.pointer[ch] ?? 1), b = Double(bias?.pointer[ch] ?? 0)
            for i in 0..<n {
                for j in 0..<s {
                    let k = (i * c + ch) * s + j
                    out.pointer[k] = Float((Double(x.pointer[k]) - mean) * rstd * w + b)
                }
            }
        }
        return out
    }

    /// RMS normalization along `axis` (see ``RMSNormKind``); weight `[x.shape[axis]]`.
    public static func rmsNorm(_ x: Tensor, axis: Int, weight: Tensor?, eps: Float = 1e-6, kind: RMSNormKind = .meanSquare) -> Tensor {
        let ax = x.shape.normalizedAxis(axis)!
        let len = x.shape[ax], inner = x.shape.product((ax + 1)..<x.rank), outer = x.shape.product(0..<ax)
        let out = Tensor(zeros: x.shape)
        for o in 0..<outer {
            for i in 0..<inner {
                var q = 0.0
                for a in 0..<len { let v = Double(x.pointer[(o * len + a) * inner + i]); q += v * v }
                let f: Double
                switch kind {
                case .meanSquare: f = 1 / (q / Double(len) + Double(eps)).squareRoot()
                case .l2Scaled: f = Double(len).squareRoot() / max(q.squareRoot(), Double(eps))
                }
                for a in 0..<len {
                    let k = (o * len + a) * inner + i
                    out.pointer[k] = Float(Double(x.pointer[k]) * f * Double(weight?.pointer[a] ?? 1))
                }
            }
        }
        return out
    }
}
