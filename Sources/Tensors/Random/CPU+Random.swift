// Filling tensors with Philox noise: uniform and normal, in parallel, reproducibly. Element i of
// the tensor (row-major) is element g = offset + i of stream `stream` under `seed` (mapping in
// Philox.swift), so results depend only on (seed, stream, offset + i): not on the thread count,
// not on the tensor's shape, and a tensor of 10 values equals the first 10 of a tensor of 1000.
// For per-sample noise in a batch, fill each sample's rows (`x.rows(k..<k+1)`) with its own stream.
// Not here: the generator itself, and any RNG for test data (tests have their own SplitMix64).

extension CPU {
    /// Fills `t` in place with uniform values `low + (high - low) · u`, u in [0, 1) from Philox,
    /// clamped below `high` (so the range is [low, high) for low < high).
    ///
    /// - Parameters:
    ///   - t: any shape; written in place (shared with its views).
    ///   - seed: the Philox key.
    ///   - stream: the stream id (e.g. sample index within a request).
    ///   - offset: index of the first element within the stream.
    public func fillUniform(_ t: Tensor, seed: UInt64, stream: UInt64 = 0, offset: UInt64 = 0,
                            low: Float = 0, high: Float = 1) throws {
        guard low.isFinite, high.isFinite, low <= high else {
            throw TensorError.invalidArgument(op: "fillUniform", "needs finite low <= high, got low \(low), high \(high) for shape \(t.shape)")
        }
        let gen = Philox(seed: seed, stream: stream)
        let scale = high - low
        let top = low < high ? high.nextDown : high
        let base = UncheckedSendable(t.pointer)
        parallelFor(t.count, grain: 4096) { range in
            let p = base.value
            var i = range.lowerBound
            while i < range.upperBound {
                let g = offset &+ UInt64(i)
                let w = gen.block(at: g >> 2)
                var lane = Int(g & 3)
                while lane < 4, i < range.upperBound {
                    p[i] = min(low + scale * PhiloxMaps.uniform(w[lane]), top)
                    lane += 1
                    i += 1
                }
            }
        }
        withExtendedLifetime(t) {}
    }

    /// Fills `t` in place with normal values `mean + std · z`, z standard normal from Philox by
    /// Box–Muller (see Philox.swift for the exact recipe).
    ///
    /// - Parameters: as ``fillUniform(_:seed:stream:offset:low:high:)``; `std` must be >= 0.
    public func fillNormal(_ t: Tensor, seed: UInt64, stream: UInt64 = 0, offset: UInt64 = 0,
                           mean: Float = 0, std: Float = 1) throws {
        guard mean.isFinite, std.isFinite, std >= 0 else {
            throw TensorError.invalidArgument(op: "fillNormal", "needs finite mean and std >= 0, got mean \(mean), std \(std) for shape \(t.shape)")
        }
        let gen = Philox(seed: seed, stream: stream)
        let base = UncheckedSendable(t.pointer)
        parallelFor(t.count, grain: 2048) { range in
            let p = base.value
            var i = range.lowerBound
            while i < range.upperBound {
                let g = offset &+ UInt64(i)
                let z = PhiloxMaps.normals(gen.block(at: g >> 2))
                var lane = Int(g & 3)
                while lane < 4, i < range.upperBound {
                    p[i] = mean + std * z[lane]
                    lane += 1
                    i += 1
                }
            }
        }
        withExtendedLifetime(t) {}
    }
}
