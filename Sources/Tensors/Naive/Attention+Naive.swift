// Naive twins of the attention kernels: softmax along an axis and scaled dot-product attention
// by their definitions, in Double, one thread, no BLAS.

import Foundation

extension Naive {
    /// Softmax (or log-softmax) along `axis`.
    public static func softmax(_ x: Tensor, axis: Int = -1, log: Bool = false) -> Tensor {
        let ax = x.shape.normalizedAxis(axis)!
        let len = x.shape[ax], inner = x.shape.product((ax + 1)..<x.rank), outer = x.shape.product(0..<ax)
        let out = Tensor(zeros: x.shape)
        for o in 0..<outer {
            for i in 0..<inner {
                let k = { (a: Int) in (o * len + a) * inner + i }
                var mx = -Double.infinity
                for a in 0..<len { mx = max(mx, Double(x.pointer[k(a)])) }
                var s = 0.0
                for a in 0..<len { s += Foundation.exp(Double(x.pointer[k(a)]) - mx) }
                for a in 0..<len {
                    let v = Double(x.pointer[k(a)]) - mx
                    out.pointer[k(a)] = Float(log ? v - Foundation.log(s) : Foundation.exp(v) / s)
                }
            }
        }
        return out
    }

    /// softmax(scale·q·kᵀ + mask)·v for q `[..., Lq, D]`, k `[..., Lk, D]`, v `[..., Lk, Dv]`,
    /// mask broadcastable to `[..., Lq, Lk]`.
    public static func scaledDotProductAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor, scale: Float? = nil,
                                                 mask: Tensor? = nil) -> Tensor {
        let r = q.rank
        let lq = q.shape[r - 2], d = q.shape[r - 1], lk = k.shape[r - 2], dv = v.shape[r - 1]
        let batch = q.shape.product(0..<(r - 2))
        let s = Double(scale ?? 1 / Float(d).squareRoot())
        var scoreShape = Shape(q.shape.prefix(r - 2)); scoreShape.append(lq); scoreShape.append(lk)
        let mi = mask.map { BroadcastIndex(from: $0.shape, to: scoreShape) }
        var outShape = Shape(q.shape.prefix(r - 2)); outShape.append(lq); outShape.append(dv)
        let out = Tensor(zeros: outShape)
        for b in 0..<batch {
            for i in 0..<lq {
                var logits = [Double](repeating: 0, count: lk)
                for j in 0..<lk {
                    var dot = 0.0
                    for t in 0..<d { dot += Double(q.pointer[(b * lq + i) * d + t]) * Double(k.pointer[(b * lk + j) * d + t]) }
                    logits[j] = s * dot + (mask.map { Double($0.pointer[mi!.sourceOffset((b * lq + i) * lk + j)]) } ?? 0)
                }
                let mx = logits.max() ?? 0
                let e = logits.map { Foundation.exp($0 - mx) }
                let total = e.reduce(0, +)
                for t in 0..<dv {
                    var acc = 0.0
                    for j in 0..<lk { acc += e[j] / total * Double(v.pointer[(b * lk + j) * dv + t]) }
                    out.pointer[(b * lq + i) * dv + t] = Float(acc)
                }
            }
        }
        return out
    }
}
