// CPU+RandomTensors: new tensors filled from the library's Philox streams — a test convenience
// (the product fills tensors it already owns with `fillUniform` / `fillNormal`).

import Tensors

extension CPU {
    /// A new tensor of `shape` filled by ``fillUniform(_:seed:stream:offset:low:high:)``.
    public func randomUniform(_ shape: Shape, seed: UInt64, stream: UInt64 = 0, offset: UInt64 = 0,
                              low: Float = 0, high: Float = 1) throws -> Tensor {
        let t = Tensor(zeros: shape)
        try fillUniform(t, seed: seed, stream: stream, offset: offset, low: low, high: high)
        return t
    }

    /// A new tensor of `shape` filled by ``fillNormal(_:seed:stream:offset:mean:std:)``.
    public func randomNormal(_ shape: Shape, seed: UInt64, stream: UInt64 = 0, offset: UInt64 = 0,
                             mean: Float = 0, std: Float = 1) throws -> Tensor {
        let t = Tensor(zeros: shape)
        try fillNormal(t, seed: seed, stream: stream, offset: offset, mean: mean, std: std)
        return t
    }
}
