// Naive twins of the convolution kernels: conv2d as the seven-loop definition (one output
// element at a time, Double accumulation) and conv_transpose2d as its scatter form (every
// input element adds its kernel-weighted copy to the output). Shape validation is shared with
// the fast kernels (`ConvGeometry`). No lowering, no GEMM, no threads.

extension Naive {
    /// Direct conv2d; shapes as ``CPU/conv2d(_:weight:bias:_:residual:activation:into:)``.
    public static func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, _ o: Conv2dOptions = Conv2dOptions()) throws -> Tensor {
        let g = try ConvGeometry.conv2d(input: x.shape, weight: weight.shape, bias: bias?.shape, o, op: "conv2d")
        let out = Tensor(zeros: g.colShape)
        let (cg, mg) = (g.groupChannels, g.groupOutChannels)
        var i = 0
        for n in 0..<g.batch {
            for m in 0..<g.outChannels {
                let group = m / mg
                for oh in 0..<g.outHeight {
                    for ow in 0..<g.outWidth {
                        var acc = Double(bias?.pointer[m] ?? 0)
                        for c in 0..<cg {
                            for kh in 0..<g.kernelH {
                                let ih = oh * o.strideH - o.padTop + kh * o.dilationH
                                if ih < 0 || ih >= g.height { continue }
                                for kw in 0..<g.kernelW {
                                    let iw = ow * o.strideW - o.padLeft + kw * o.dilationW
                                    if iw < 0 || iw >= g.width { continue }
                                    let xv = x.pointer[((n * g.channels + group * cg + c) * g.height + ih) * g.width + iw]
                                    let wv = weight.pointer[((m * cg + c) * g.kernelH + kh) * g.kernelW + kw]
                                    acc += Double(xv) * Double(wv)
                                }
                            }
                        }
                        out.pointer[i] = Float(acc)
                        i += 1
                    }
                }
            }
        }
        return out
    }

    /// Direct conv_transpose2d; shapes as ``CPU/convTranspose2d(_:weight:bias:_:outputPadding:into:)``.
    public static func convTranspose2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, _ o: Conv2dOptions = Conv2dOptions(),
                                       outputPadding: (h: Int, w: Int) = (0, 0)) throws -> Tensor {
        let g = try ConvGeometry.convTranspose2d(input: x.shape, weight: weight.shape, bias: bias?.shape, o,
                                                 outputPadding: outputPadding, op: "convTranspose2d")
        // In conv2d terms the input is the column side [N, Cin, H, W], the output the image side.
        var acc = [Double](repeating: 0, count: g.imageShape.elementCount)
        let (coutG, cinG) = (g.groupChannels, g.groupOutChannels)
        for n in 0..<g.batch {
            for ci in 0..<g.outChannels {
                let group = ci / cinG
                for ih in 0..<g.outHeight {
                    for iw in 0..<g.outWidth {
                        let xv = Double(x.pointer[((n * g.outChannels + ci) * g.outHeight + ih) * g.outWidth + iw])
                        for co in 0..<coutG {
                            for kh in 0..<g.kernelH {
                                let oh = ih * o.strideH - o.padTop + kh * o.dilationH
                                if oh < 0 || oh >= g.height { continue }
                                for kw in 0..<g.kernelW {
                                    let ow = iw * o.strideW - o.padLeft + kw * o.dilationW
                                    if ow < 0 || ow >= g.width { continue }
                                    let wv = Double(weight.pointer[((ci * coutG + co) * g.kernelH + kh) * g.kernelW + kw])
                                    acc[((n * g.channels + group * coutG + co) * g.height + oh) * g.width + ow] += xv * wv
                                }
                            }
                        }
                    }
                }
            }
        }
        if let bias {
            let hw = g.height * g.width
            for i in 0..<acc.count { acc[i] += Double(bias.pointer[(i / hw) % g.channels]) }
        }
        return Tensor(shape: g.imageShape, scalars: acc.map { Float($0) })
    }
}
