// Op: the typed operations of the graph IR, each with its parameters. Every executor and pass
// switches over this enum exhaustively, so adding a case makes the compiler name every place
// that must handle it. ONNX op-type strings never appear past the importer (ModelIO).
// Parameters ONNX passes as inputs (Reshape's shape, Slice's starts, Pad's pads, Resize's
// scales, …) stay inputs here: shape arithmetic flows through the graph like any value, and
// specialization folds it to constants. Input lists are documented per case.

import Tensors

/// Which reduction a `reduce` op computes.
public enum ReduceKind: String, Sendable, CaseIterable {
    case sum, mean, max, min, l2, sumSquare, prod
}

/// Comparisons producing 0/1 int tensors.
public enum Comparison: String, Sendable, CaseIterable {
    case equal, less, greater, lessOrEqual, greaterOrEqual
}

/// How `resize` samples (ONNX Resize's modes over H and W: what PyTorch's interpolate exports,
/// and nearest at ONNX's other sampling positions).
public enum ResizeMode: Sendable, Equatable {
    /// Nearest neighbour, asymmetric coordinates, floor rounding (PyTorch `nearest`).
    case nearest
    /// Nearest neighbour at another ONNX coordinate transform and rounding (never
    /// ``NearestSampling/pytorch``, which is `nearest`); half-pixel coordinates rounded halves
    /// up are PyTorch's `nearest-exact`.
    case nearestSampled(NearestSampling)
    /// Bilinear over H and W; `alignCorners` selects ONNX `align_corners`, else `half_pixel` /
    /// `pytorch_half_pixel` (PyTorch's coordinates, which ONNX's `pytorch_half_pixel` differs from
    /// only on an output axis of length 1).
    case linear(alignCorners: Bool)
    /// Bicubic over H and W (PyTorch `bicubic`: A = −0.75, edge taps repeated); `alignCorners`
    /// selects ONNX `align_corners`, else `half_pixel` / `pytorch_half_pixel` as for `linear`.
    case cubic(alignCorners: Bool)
}

/// How `pad` fills (ONNX Pad modes).
public enum PadFill: String, Sendable, CaseIterable {
    case constant, reflect, edge
}

/// One operation of the graph IR.
public enum Op: Sendable {
    // MARK: dense compute
    /// x `[N, C, H, W]`, w `[M, C/g, KH, KW]`, b `[M]`?, residual `[N, M, OH, OW]`? →
    /// activation(conv + b + residual) `[N, M, OH, OW]` (residual and activation set by fusion)
    case conv(Conv2dOptions, activation: UnaryOp?)
    /// x `[N, C, H, W]`, u `[16, M, C]` (Winograd-transformed 3x3 weights), b `[M]`?, residual? → as `conv`
    /// with stride 1 (set by the inference plan for eligible convs; never imported or trained)
    case winogradConv(Conv2dOptions, activation: UnaryOp?)
    /// x `[N, Cin, H, W]`, w `[Cin, Cout/g, KH, KW]`, b `[Cout]`? → `[N, Cout, OH, OW]`
    case convTranspose(Conv2dOptions, outputPaddingH: Int, outputPaddingW: Int)
    /// a, b, c? → alpha · op(a) · op(b) + beta · c (2-D a and b; c broadcasts)
    case gemm(transA: Bool, transB: Bool, alpha: Float, beta: Float)
    /// a, b → numpy matmul (batch axes broadcast; rank-1 operands promoted and squeezed)
    case matMul
    /// operands… → einsum over single-letter subscripts with an explicit `->` (parsed on import)
    case einsum(EinsumSpec)
    /// q `[…, Lq, D]`, k `[…, Lk, D]` (`[…, D, Lk]` when `keyTransposed`), v `[…, Lk, Dv]` →
    /// softmax(q·kᵀ·scale)·v (fused from MatMul/Einsum → Softmax → MatMul/Einsum by a pass)
    case attention(scale: Float, keyTransposed: Bool)
    /// q `[B, Lq, H, D]`, k `[B, Lk, H, D]`, v `[B, Lk, H, Dv]` → `[B, Lq, H, Dv]`: attention per
    /// head h with the heads interleaved in each row (fused from `attention` between the
    /// head-split transposes `[B, L, H, D]` ↔ `[B, H, L, D]`, which then never run)
    case attentionInterleaved(scale: Float)

    // MARK: elementwise
    /// a, b → op(a, b), numpy broadcasting; int64 when both are int64
    case binary(BinaryOp)
    /// x → op(x)
    case unary(UnaryOp)
    /// x → op(x) for an activation with scalar parameters (leaky ReLU, ELU, CELU, SELU, hard sigmoid)
    case parametricUnary(ParametricUnaryOp)
    /// x, min?, max? → x clamped
    case clip
    /// a, b → int 0/1
    case compare(Comparison)
    /// x (int 0/1) → 1 − x
    case not
    /// cond, x, y → cond ? x : y (ONNX Where), broadcasting
    case select
    /// x → x as the given type
    case cast(ElementType)

    // MARK: normalization
    /// x → softmax along `axis`
    case softmax(axis: Int)
    /// x `[N, C, *]`, scale `[C]`, bias `[C]`
    case instanceNorm(eps: Float)
    /// x `[N, C, *]`, scale, bias: `[C]` (or `[groups]`, GroupNormalization-18); SiLU after when `silu`
    case groupNorm(groups: Int, eps: Float, silu: Bool)
    /// x `[N, C, *]`, scale, bias, mean, var `[C]` (inference: running statistics)
    case batchNorm(eps: Float)
    /// x, scale?, bias? → normalized over axes `axis…` (ONNX LayerNormalization)
    case layerNorm(axis: Int, eps: Float)
    /// x, weight `[A]`? → RMS normalization along `axis` (A = x.shape[axis]), the tensor core's
    /// `rmsNorm`: `.meanSquare` x / sqrt(mean(x²) + eps) · weight (nn.RMSNorm); `.l2Scaled`
    /// x / max(‖x‖₂, eps) · √A · weight (denoising-diffusion-pytorch's RMSNorm, fused from
    /// F.normalize(x, dim) · g · scale)
    case rmsNorm(axis: Int, eps: Float, kind: RMSNormKind)
    /// x, axes? → reduced; `axes` nil: from input 1, else all axes unless `noopWithEmptyAxes`
    case reduce(ReduceKind, axes: [Int]?, keepDims: Bool, noopWithEmptyAxes: Bool)

    // MARK: layout
    /// x, shape (int) → reshaped (0 copies the input dim unless `allowZero`; −1 infers)
    case reshape(allowZero: Bool)
    /// x → permuted (nil: reverse the axes)
    case transpose(perm: [Int]?)
    /// xs… → joined along `axis`
    case concat(axis: Int)
    /// x, split? → `outputs` parts along `axis` (sizes from the attribute, input 1, or equal)
    case split(axis: Int, sizes: [Int]?, outputs: Int)
    /// x, starts, ends, axes?, steps? → sliced
    case slice
    /// data, indices (int) → gathered along `axis`
    case gather(axis: Int)
    /// data, indices (int `[…, k]`) → `indices.shape[..<-1] + data.shape[(batchDims + k)...]`: each
    /// index tuple picks a slice of data, within each of the first `batchDims` axes (ONNX GatherND;
    /// negative indices count from the end)
    case gatherND(batchDims: Int)
    /// x, axes? (`axes` nil: from input 1)
    case unsqueeze(axes: [Int]?)
    /// x, axes? (`axes` nil: input 1, or every axis of size 1 when absent)
    case squeeze(axes: [Int]?)
    /// x → `[prod(dims before axis), prod(dims from axis)]`
    case flatten(axis: Int)
    /// x, shape (int) → broadcast to shape
    case expand
    /// x, repeats (int) → tiled
    case tile
    /// x, pads (int `[begins…, ends…]`), value?, axes?
    case pad(PadFill)
    /// x, roi?, scales?, sizes? → resized over H and W
    case resize(ResizeMode)
    /// x `[N, C, H, W]` → `[N, C, OH, OW]`: the mean of each window (ONNX AveragePool, nn.AvgPool2d;
    /// dilation 1); `countIncludePad` divides by the window's size within the padded input, else by
    /// its taps inside the input
    case averagePool(Pool2dWindow, countIncludePad: Bool)
    /// x `[N, C, H, W]` → `[N, C, OH, OW]`: the largest tap of each dilated window (ONNX MaxPool's
    /// first output, nn.MaxPool2d); the gradient goes to each window's first maximum
    case maxPool(Pool2dWindow)
    /// x `[N, C·b², H, W]` → `[N, C, H·b, W·b]` (`crd`: PyTorch PixelShuffle order, else DCR)
    case depthToSpace(blockSize: Int, crd: Bool)
    /// x `[N, C, H·b, W·b]` → `[N, C·b², H, W]` (ONNX DCR order)
    case spaceToDepth(blockSize: Int)

    // MARK: shapes and sources
    /// x → its shape as int64 `[rank]`, axes `start..<end`
    case shape(start: Int, end: Int?)
    /// shape (int) → a tensor of that shape filled with the value
    case constantOfShape(Value)
    /// start, limit, delta → 1-D range
    case range
    /// x → x
    case identity

    /// A short name for histograms and messages (`conv`, `groupNorm+silu`, …).
    public var name: String {
        switch self {
        case .conv(_, let act): return act.map { "conv+\($0.rawValue)" } ?? "conv"
        case .winogradConv(_, let act): return act.map { "winogradConv+\($0.rawValue)" } ?? "winogradConv"
        case .convTranspose: return "convTranspose"
        case .gemm: return "gemm"
        case .matMul: return "matMul"
        case .einsum: return "einsum"
        case .attention: return "attention"
        case .attentionInterleaved: return "attention(interleaved)"
        case .binary(let b): return b.rawValue
        case .unary(let u): return u.rawValue
        case .parametricUnary(let u): return u.name
        case .clip: return "clip"
        case .compare(let c): return c.rawValue
        case .not: return "not"
        case .select: return "select"
        case .cast: return "cast"
        case .softmax: return "softmax"
        case .instanceNorm: return "instanceNorm"
        case .groupNorm(_, _, let silu): return silu ? "groupNorm+silu" : "groupNorm"
        case .batchNorm: return "batchNorm"
        case .layerNorm: return "layerNorm"
        case .rmsNorm: return "rmsNorm"
        case .reduce(let k, _, _, _): return "reduce" + k.rawValue.prefix(1).uppercased() + k.rawValue.dropFirst()
        case .reshape: return "reshape"
        case .transpose: return "transpose"
        case .concat: return "concat"
        case .split: return "split"
        case .slice: return "slice"
        case .gather: return "gather"
        case .gatherND: return "gatherND"
        case .unsqueeze: return "unsqueeze"
        case .squeeze: return "squeeze"
        case .flatten: return "flatten"
        case .expand: return "expand"
        case .tile: return "tile"
        case .pad: return "pad"
        case .resize: return "resize"
        case .averagePool: return "averagePool"
        case .maxPool: return "maxPool"
        case .depthToSpace: return "depthToSpace"
        case .spaceToDepth: return "spaceToDepth"
        case .shape: return "shape"
        case .constantOfShape: return "constantOfShape"
        case .range: return "range"
        case .identity: return "identity"
        }
    }
}

/// Which case of ``Op`` a value is, without its parameters: one name per case, listed by
/// `allCases`. The raw values are stable (the native format and the op-conformance table use them),
/// so renaming a Swift case never changes a file.
public enum OpKind: String, Sendable, CaseIterable {
    case conv = "conv"
    case winogradConv = "winogradConv"
    case convTranspose = "convTranspose"
    case gemm = "gemm"
    case matMul = "matMul"
    case einsum = "einsum"
    case attention = "attention"
    case attentionInterleaved = "attentionInterleaved"
    case binary = "binary"
    case unary = "unary"
    case parametricUnary = "parametricUnary"
    case clip = "clip"
    case compare = "compare"
    case not = "not"
    case select = "select"
    case cast = "cast"
    case softmax = "softmax"
    case instanceNorm = "instanceNorm"
    case groupNorm = "groupNorm"
    case batchNorm = "batchNorm"
    case layerNorm = "layerNorm"
    case rmsNorm = "rmsNorm"
    case reduce = "reduce"
    case reshape = "reshape"
    case transpose = "transpose"
    case concat = "concat"
    case split = "split"
    case slice = "slice"
    case gather = "gather"
    case gatherND = "gatherND"
    case unsqueeze = "unsqueeze"
    case squeeze = "squeeze"
    case flatten = "flatten"
    case expand = "expand"
    case tile = "tile"
    case pad = "pad"
    case resize = "resize"
    case averagePool = "averagePool"
    case maxPool = "maxPool"
    case depthToSpace = "depthToSpace"
    case spaceToDepth = "spaceToDepth"
    case shape = "shape"
    case constantOfShape = "constantOfShape"
    case range = "range"
    case identity = "identity"
}

extension Op {
    /// The case of this op, without parameters.
    public var kind: OpKind {
        switch self {
        case .conv: return .conv
        case .winogradConv: return .winogradConv
        case .convTranspose: return .convTranspose
        case .gemm: return .gemm
        case .matMul: return .matMul
        case .einsum: return .einsum
        case .attention: return .attention
        case .attentionInterleaved: return .attentionInterleaved
        case .binary: return .binary
        case .unary: return .unary
        case .parametricUnary: return .parametricUnary
        case .clip: return .clip
        case .compare: return .compare
        case .not: return .not
        case .select: return .select
        case .cast: return .cast
        case .softmax: return .softmax
        case .instanceNorm: return .instanceNorm
        case .groupNorm: return .groupNorm
        case .batchNorm: return .batchNorm
        case .layerNorm: return .layerNorm
        case .rmsNorm: return .rmsNorm
        case .reduce: return .reduce
        case .reshape: return .reshape
        case .transpose: return .transpose
        case .concat: return .concat
        case .split: return .split
        case .slice: return .slice
        case .gather: return .gather
        case .gatherND: return .gatherND
        case .unsqueeze: return .unsqueeze
        case .squeeze: return .squeeze
        case .flatten: return .flatten
        case .expand: return .expand
        case .tile: return .tile
        case .pad: return .pad
        case .resize: return .resize
        case .averagePool: return .averagePool
        case .maxPool: return .maxPool
        case .depthToSpace: return .depthToSpace
        case .spaceToDepth: return .spaceToDepth
        case .shape: return .shape
        case .constantOfShape: return .constantOfShape
        case .range: return .range
        case .identity: return .identity
        }
    }
}
