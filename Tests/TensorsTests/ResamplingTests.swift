// Resampling kernels: PyTorch 2.13 (CPU) golden outputs for nearest (and onnxruntime's for
// ONNX's other nearest samplings) / bilinear / bicubic / avg-pool / pixel (un)shuffle, fast vs naive on random NCHW shapes (odd sizes, widths 1/7/17/33, thread
// counts 1 and 2, bit-identical repeats), backward kernels vs their naive adjoints, tape
// gradients by finite differences, and errors naming op and shapes.
//
// Golden values come from this snippet (run once with /work/venv/bin/python, torch CPU):
//   import torch, torch.nn.functional as F
//   x = torch.arange(24, dtype=torch.float32).reshape(1, 2, 3, 4) * 0.5 - 2
//   F.interpolate(x, size=(5, 7), mode="nearest")                       # nearest5x7
//   F.interpolate(x, scale_factor=1.5, mode="nearest")                  # nearestSF15
//   F.interpolate(x, size=(2, 3), mode="nearest")                       # nearestDown
//   F.interpolate(x, size=(5, 7), mode="bilinear", align_corners=False) # bilinear5x7
//   F.interpolate(x, size=(5, 7), mode="bilinear", align_corners=True)  # bilinear5x7Aligned
//   F.interpolate(x, scale_factor=1.5, mode="bilinear", align_corners=False)  # bilinearSF15
//   F.interpolate(x, size=(2, 3), mode="bilinear", align_corners=False) # bilinearDown
//   F.avg_pool2d(x, 3, 2, 1, count_include_pad=True / False)            # avgIncl / avgExcl
//   F.avg_pool2d(x, (2, 3), (1, 2), (1, 1), count_include_pad=False)   # avgRect
//   F.interpolate(x, size=(5, 7), mode="bicubic", align_corners=False)  # bicubic5x7
//   F.interpolate(x, size=(5, 7), mode="bicubic", align_corners=True)   # bicubic5x7Aligned
//   F.interpolate(x, size=(2, 3), mode="bicubic", align_corners=False)  # bicubicDown
//   F.interpolate(x, size=(5, 7), mode="nearest-exact")                 # nearestExact5x7
//   F.interpolate(x, size=(2, 2), mode="nearest-exact")                 # nearestExactDown
//   onnxruntime 1.32 Resize(x, sizes=[1, 2, 2, 2], mode="nearest", coordinate_transformation_mode=
//     "half_pixel", nearest_mode="round_prefer_floor")                  # ortHalfPixelFloorDown
//   the same to sizes [1, 2, 5, 7] with "align_corners" and "ceil"      # ortAlignCeil5x7
//   F.pixel_shuffle(torch.arange(48.).reshape(1, 8, 2, 3), 2)           # shuffle
//   F.pixel_unshuffle(torch.arange(48.).reshape(1, 2, 4, 6), 2)         # unshuffle
//   xg = x.requires_grad_(); g = torch.arange(70.).reshape(1, 2, 5, 7) * 0.1 - 3
//   F.interpolate(xg, size=(5, 7), mode="bilinear", align_corners=False).backward(g)  # bilinearGrad
//   F.interpolate(xg, size=(5, 7), mode="bicubic", align_corners=False).backward(g)   # bicubicGrad
//   g2 = torch.arange(8.).reshape(1, 2, 2, 2) - 3
//   F.avg_pool2d(xg, 3, 2, 1, count_include_pad=False).backward(g2)     # avgGrad

import Testing
@testable import Tensors

@Suite struct ResamplingTests {
    let cpu = CPU(threads: 2)
    let x = Tensor(shape: [1, 2, 3, 4], scalars: (0..<24).map { Float($0) * 0.5 - 2 })

    func t(_ shape: Shape, _ v: [Float]) -> Tensor { Tensor(shape: shape, scalars: v) }

    @Test func matchesPyTorch() throws {
        let nearest5x7: [Float] = [-2, -2, -1.5, -1.5, -1, -1, -0.5, -2, -2, -1.5, -1.5, -1, -1, -0.5, 0, 0, 0.5, 0.5, 1, 1, 1.5, 0, 0, 0.5, 0.5, 1, 1, 1.5, 2, 2, 2.5, 2.5, 3, 3, 3.5, 4, 4, 4.5, 4.5, 5, 5, 5.5, 4, 4, 4.5, 4.5, 5, 5, 5.5, 6, 6, 6.5, 6.5, 7, 7, 7.5, 6, 6, 6.5, 6.5, 7, 7, 7.5, 8, 8, 8.5, 8.5, 9, 9, 9.5]
        expectClose(try cpu.upsampleNearest(x, outputSize: (5, 7)), t([1, 2, 5, 7], nearest5x7), rtol: 0, atol: 0, "nearest 5x7")
        let nearestSF15: [Float] = [-2, -2, -1.5, -1, -1, -0.5, -2, -2, -1.5, -1, -1, -0.5, 0, 0, 0.5, 1, 1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4, 4, 4.5, 5, 5, 5.5, 4, 4, 4.5, 5, 5, 5.5, 6, 6, 6.5, 7, 7, 7.5, 8, 8, 8.5, 9, 9, 9.5]
        expectClose(try cpu.upsampleNearest(x, outputSize: (4, 6), scaleFactor: (1.5, 1.5)), t([1, 2, 4, 6], nearestSF15), rtol: 0, atol: 0, "nearest sf 1.5")
        let nearestDown: [Float] = [-2, -1.5, -1, 0, 0.5, 1, 4, 4.5, 5, 6, 6.5, 7]
        expectClose(try cpu.upsampleNearest(x, outputSize: (2, 3)), t([1, 2, 2, 3], nearestDown), rtol: 0, atol: 0, "nearest down")

        let bilinear5x7: [Float] = [-2.0, -1.8214285373687744, -1.5357142686843872, -1.25, -0.9642856121063232, -0.678571343421936, -0.5, -1.1999999284744263, -1.0214285850524902, -0.7357141971588135, -0.44999992847442627, -0.16428552567958832, 0.12142875790596008, 0.30000007152557373, 0.0, 0.1785714477300644, 0.4642857313156128, 0.7500000596046448, 1.0357143878936768, 1.321428656578064, 1.5, 1.200000286102295, 1.378571629524231, 1.6642861366271973, 1.950000286102295, 2.2357146739959717, 2.5214290618896484, 2.700000286102295, 2.0, 2.1785714626312256, 2.4642856121063232, 2.75, 3.0357143878936768, 3.3214285373687744, 3.499999761581421, 4.0, 4.1785712242126465, 4.464285850524902, 4.75, 5.035714149475098, 5.321428298950195, 5.5, 4.800000190734863, 4.97857141494751, 5.264285564422607, 5.550000190734863, 5.835714340209961, 6.121428966522217, 6.300000190734863, 6.0, 6.1785712242126465, 6.464285850524902, 6.75, 7.035714149475098, 7.321428298950195, 7.5, 7.200000286102295, 7.378571510314941, 7.664286136627197, 7.950000286102295, 8.23571491241455, 8.521429061889648, 8.699999809265137, 8.0, 8.178570747375488, 8.464285850524902, 8.75, 9.035714149475098, 9.321427345275879, 9.5]
        expectClose(try cpu.upsampleBilinear(x, outputSize: (5, 7)), t([1, 2, 5, 7], bilinear5x7), rtol: 1e-6, atol: 1e-6, "bilinear 5x7")
        let aligned: [Float] = [-2, -1.75, -1.5, -1.25, -1, -0.75, -0.5, -1, -0.75, -0.5, -0.25, 0, 0.25, 0.5, 0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1, 1.25, 1.5, 1.75, 2, 2.25, 2.5, 2, 2.25, 2.5, 2.75, 3, 3.25, 3.5, 4, 4.25, 4.5, 4.75, 5, 5.25, 5.5, 5, 5.25, 5.5, 5.75, 6, 6.25, 6.5, 6, 6.25, 6.5, 6.75, 7, 7.25, 7.5, 7, 7.25, 7.5, 7.75, 8, 8.25, 8.5, 8, 8.25, 8.5, 8.75, 9, 9.25, 9.5]
        expectClose(try cpu.upsampleBilinear(x, outputSize: (5, 7), alignCorners: true), t([1, 2, 5, 7], aligned), rtol: 1e-6, atol: 1e-6, "bilinear aligned")
        let bilinearSF15: [Float] = [-2.0, -1.75, -1.4166666269302368, -1.0833332538604736, -0.75, -0.5, -1.0, -0.75, -0.4166666269302368, -0.08333328366279602, 0.25, 0.5, 0.33333349227905273, 0.5833334922790527, 0.9166668653488159, 1.250000238418579, 1.5833334922790527, 1.8333334922790527, 1.6666667461395264, 1.9166667461395264, 2.25, 2.5833334922790527, 2.9166667461395264, 3.1666667461395264, 4.0, 4.25, 4.583333492279053, 4.9166669845581055, 5.25, 5.5, 5.0, 5.25, 5.583333492279053, 5.9166669845581055, 6.25, 6.5, 6.333333492279053, 6.583333492279053, 6.916666507720947, 7.25, 7.583333492279053, 7.833333969116211, 7.6666669845581055, 7.9166669845581055, 8.25, 8.583333969116211, 8.916666984558105, 9.166666030883789]
        expectClose(try cpu.upsampleBilinear(x, outputSize: (4, 6), scaleFactor: (1.5, 1.5)), t([1, 2, 4, 6], bilinearSF15), rtol: 1e-6, atol: 1e-6, "bilinear sf 1.5")
        let bilinearDown: [Float] = [-1.4166666269302368, -0.75, -0.08333325386047363, 1.5833333730697632, 2.25, 2.9166667461395264, 4.583333492279053, 5.25, 5.9166669845581055, 7.583333492279053, 8.25, 8.916666984558105]
        expectClose(try cpu.upsampleBilinear(x, outputSize: (2, 3)), t([1, 2, 2, 3], bilinearDown), rtol: 1e-6, atol: 1e-6, "bilinear down")

        let bicubic5x7: [Float] = [-2.2416093349456787, -2.052377223968506, -1.7437037229537964, -1.442000150680542, -1.140296220779419, -0.8316227197647095, -0.6423917412757874, -1.4176076650619507, -1.2283762693405151, -0.9197027683258057, -0.6179989576339722, -0.31629496812820435, -0.0076219504699110985, 0.18160918354988098, -0.04960823059082031, 0.1396225094795227, 0.44829604029655457, 0.7500000596046448, 1.0517042875289917, 1.3603769540786743, 1.5496082305908203, 1.318392276763916, 1.507622241973877, 1.8162957429885864, 2.117999792098999, 2.4197044372558594, 2.728376865386963, 2.9176082611083984, 2.142393112182617, 2.33162260055542, 2.640296220779419, 2.942000389099121, 3.2437047958374023, 3.552377223968506, 3.7416088581085205, 3.758394241333008, 3.9476230144500732, 4.256296157836914, 4.558000564575195, 4.859706401824951, 5.168376922607422, 5.357609272003174, 4.582394599914551, 4.771623134613037, 5.080296039581299, 5.382000923156738, 5.683705806732178, 5.992377281188965, 6.181609153747559, 5.950394153594971, 6.139622211456299, 6.448295593261719, 6.75, 7.051705360412598, 7.360376358032227, 7.54960823059082, 7.318396091461182, 7.507622241973877, 7.816296100616455, 8.118000030517578, 8.419705390930176, 8.728376388549805, 8.917609214782715, 8.142396926879883, 8.331622123718262, 8.64029598236084, 8.942001342773438, 9.243707656860352, 9.552377700805664, 9.741609573364258]
        expectClose(try cpu.upsampleBicubic(x, outputSize: (5, 7)), t([1, 2, 5, 7], bicubic5x7), rtol: 1e-6, atol: 1e-6, "bicubic 5x7")
        let bicubicAligned: [Float] = [-2.0, -1.796875, -1.5, -1.25, -1.0, -0.703125, -0.5, -1.1875, -0.984375, -0.6875, -0.4375, -0.1875, 0.109375, 0.3125, 0.0, 0.203125, 0.5, 0.75, 1.0, 1.296875, 1.5, 1.1875, 1.390625, 1.6875, 1.9375, 2.1875, 2.484375, 2.6875, 2.0, 2.203125, 2.5, 2.75, 3.0, 3.296875, 3.5, 4.0, 4.203125, 4.5, 4.75, 5.0, 5.296875, 5.5, 4.8125, 5.015625, 5.3125, 5.5625, 5.8125, 6.109375, 6.3125, 6.0, 6.203125, 6.5, 6.75, 7.0, 7.296875, 7.5, 7.1875, 7.390625, 7.6875, 7.9375, 8.1875, 8.484375, 8.6875, 8.0, 8.203125, 8.5, 8.75, 9.0, 9.296875, 9.5]
        expectClose(try cpu.upsampleBicubic(x, outputSize: (5, 7), alignCorners: true), t([1, 2, 5, 7], bicubicAligned), rtol: 1e-6, atol: 1e-6, "bicubic aligned")
        let bicubicDown: [Float] = [-1.5541092157363892, -0.8671875, -0.1802665889263153, 1.6802666187286377, 2.3671875, 3.054109573364258, 4.445891857147217, 5.1328125, 5.819735050201416, 7.680267333984375, 8.3671875, 9.054112434387207]
        expectClose(try cpu.upsampleBicubic(x, outputSize: (2, 3)), t([1, 2, 2, 3], bicubicDown), rtol: 1e-6, atol: 1e-6, "bicubic down")

        let exact = NearestSampling(coordinates: .halfPixel, rounding: .roundPreferCeil)  // PyTorch's nearest-exact
        let nearestExact5x7: [Float] = [-2.0, -2.0, -1.5, -1.0, -1.0, -0.5, -0.5, -2.0, -2.0, -1.5, -1.0, -1.0, -0.5, -0.5, 0.0, 0.0, 0.5, 1.0, 1.0, 1.5, 1.5, 2.0, 2.0, 2.5, 3.0, 3.0, 3.5, 3.5, 2.0, 2.0, 2.5, 3.0, 3.0, 3.5, 3.5, 4.0, 4.0, 4.5, 5.0, 5.0, 5.5, 5.5, 4.0, 4.0, 4.5, 5.0, 5.0, 5.5, 5.5, 6.0, 6.0, 6.5, 7.0, 7.0, 7.5, 7.5, 8.0, 8.0, 8.5, 9.0, 9.0, 9.5, 9.5, 8.0, 8.0, 8.5, 9.0, 9.0, 9.5, 9.5]
        expectClose(try cpu.upsampleNearest(x, outputSize: (5, 7), sampling: exact), t([1, 2, 5, 7], nearestExact5x7), rtol: 0, atol: 0, "nearest-exact 5x7")
        expectClose(try cpu.upsampleNearest(x, outputSize: (2, 2), sampling: exact), t([1, 2, 2, 2], [-1.5, -0.5, 2.5, 3.5, 4.5, 5.5, 8.5, 9.5]), rtol: 0, atol: 0, "nearest-exact down")
        let roundDown = NearestSampling(coordinates: .halfPixel, rounding: .roundPreferFloor)
        expectClose(try cpu.upsampleNearest(x, outputSize: (2, 2), sampling: roundDown), t([1, 2, 2, 2], [-2, -1, 2, 3, 4, 5, 8, 9]), rtol: 0, atol: 0, "half pixel, halves down")
        let alignCeil: [Float] = [-2.0, -1.5, -1.5, -1.0, -1.0, -0.5, -0.5, 0.0, 0.5, 0.5, 1.0, 1.0, 1.5, 1.5, 0.0, 0.5, 0.5, 1.0, 1.0, 1.5, 1.5, 2.0, 2.5, 2.5, 3.0, 3.0, 3.5, 3.5, 2.0, 2.5, 2.5, 3.0, 3.0, 3.5, 3.5, 4.0, 4.5, 4.5, 5.0, 5.0, 5.5, 5.5, 6.0, 6.5, 6.5, 7.0, 7.0, 7.5, 7.5, 6.0, 6.5, 6.5, 7.0, 7.0, 7.5, 7.5, 8.0, 8.5, 8.5, 9.0, 9.0, 9.5, 9.5, 8.0, 8.5, 8.5, 9.0, 9.0, 9.5, 9.5]
        let ceilAligned = NearestSampling(coordinates: .alignCorners, rounding: .ceil)
        expectClose(try cpu.upsampleNearest(x, outputSize: (5, 7), sampling: ceilAligned), t([1, 2, 5, 7], alignCeil), rtol: 0, atol: 0, "align corners, ceil")

        let w3 = Pool2dWindow(kernel: (3, 3), stride: (2, 2), padding: (1, 1))
        let avgIncl: [Float] = [-0.3333333432674408, 0.0, 0.5555555820465088, 1.3333333730697632, 2.3333332538604736, 4.0, 3.222222328186035, 5.333333492279053]
        expectClose(try cpu.avgPool2d(x, w3, countIncludePad: true), t([1, 2, 2, 2], avgIncl), rtol: 1e-6, atol: 1e-6, "avg incl")
        expectClose(try cpu.avgPool2d(x, w3, countIncludePad: false), t([1, 2, 2, 2], [-0.75, 0, 1.25, 2, 5.25, 6, 7.25, 8]), rtol: 1e-6, atol: 1e-6, "avg excl")
        let rect = Pool2dWindow(kernel: (2, 3), stride: (1, 2), padding: (1, 1))
        let avgRect: [Float] = [-1.75, -1, -0.75, 0, 1.25, 2, 2.25, 3, 4.25, 5, 5.25, 6, 7.25, 8, 8.25, 9]
        expectClose(try cpu.avgPool2d(x, rect, countIncludePad: false), t([1, 2, 4, 2], avgRect), rtol: 1e-6, atol: 1e-6, "avg rect")

        let y = t([1, 8, 2, 3], (0..<48).map(Float.init))
        let shuffle: [Float] = [0, 6, 1, 7, 2, 8, 12, 18, 13, 19, 14, 20, 3, 9, 4, 10, 5, 11, 15, 21, 16, 22, 17, 23, 24, 30, 25, 31, 26, 32, 36, 42, 37, 43, 38, 44, 27, 33, 28, 34, 29, 35, 39, 45, 40, 46, 41, 47]
        expectClose(try cpu.pixelShuffle(y, factor: 2), t([1, 2, 4, 6], shuffle), rtol: 0, atol: 0, "pixel shuffle")
        let z = t([1, 2, 4, 6], (0..<48).map(Float.init))
        let unshuffle: [Float] = [0, 2, 4, 12, 14, 16, 1, 3, 5, 13, 15, 17, 6, 8, 10, 18, 20, 22, 7, 9, 11, 19, 21, 23, 24, 26, 28, 36, 38, 40, 25, 27, 29, 37, 39, 41, 30, 32, 34, 42, 44, 46, 31, 33, 35, 43, 45, 47]
        expectClose(try cpu.pixelUnshuffle(z, factor: 2), t([1, 8, 2, 3], unshuffle), rtol: 0, atol: 0, "pixel unshuffle")
    }

    @Test func backwardMatchesPyTorch() throws {
        let g = t([1, 2, 5, 7], (0..<70).map { Float($0) * 0.1 - 3 })
        let bilinearGrad: [Float] = [-7.382856845855713, -7.227142810821533, -6.701426982879639, -5.98857307434082, -4.795713424682617, -4.474285125732422, -3.882856607437134, -3.2271437644958496, -1.1428570747375488, -0.7271430492401123, -0.20142853260040283, 0.25142860412597656, 2.2171428203582764, 2.772857189178467, 3.2985706329345703, 3.61142897605896, 6.004284858703613, 6.7757134437561035, 7.367141246795654, 7.5728583335876465, 8.457143783569336, 9.272857666015625, 9.79857063293457, 9.851430892944336]
        expectClose(try cpu.upsampleBilinearBackward(g, inputShape: x.shape), t(x.shape, bilinearGrad), rtol: 1e-5, atol: 1e-5, "bilinear grad")
        let bicubicGrad: [Float] = [-7.893392562866211, -7.633567810058594, -7.088777542114258, -6.364265441894531, -4.675724506378174, -4.281949520111084, -3.706524133682251, -3.0606048107147217, -0.9601770639419556, -0.4743811786174774, 0.0704060047864914, 0.5689528584480286, 1.9664323329925537, 2.5476136207580566, 3.0923995971679688, 3.495563268661499, 5.738563060760498, 6.471766948699951, 7.047186851501465, 7.353684902191162, 8.89964771270752, 9.70680046081543, 10.25158405303955, 10.428781509399414]
        expectClose(try cpu.upsampleBicubicBackward(g, inputShape: x.shape), t(x.shape, bicubicGrad), rtol: 1e-5, atol: 1e-5, "bicubic grad")
        let g2 = t([1, 2, 2, 2], (0..<8).map { Float($0) - 3 })
        let avgGrad: [Float] = [-0.75, -1.0833333730697632, -0.3333333432674408, -0.3333333432674408, -1.0, -1.3333333730697632, -0.3333333432674408, -0.3333333432674408, -0.25, -0.25, 0.0, 0.0, 0.25, 0.5833333730697632, 0.3333333432674408, 0.3333333432674408, 1.0, 2.0, 1.0, 1.0, 0.75, 1.4166667461395264, 0.6666666865348816, 0.6666666865348816]
        let w3 = Pool2dWindow(kernel: (3, 3), stride: (2, 2), padding: (1, 1))
        expectClose(try cpu.avgPool2dBackward(g2, inputShape: x.shape, w3, countIncludePad: false), t(x.shape, avgGrad), rtol: 1e-6, atol: 1e-6, "avg grad")
    }

    static let shapes: [Shape] = [[1, 1, 1, 1], [2, 3, 5, 7], [1, 2, 17, 1], [2, 1, 4, 33], [1, 3, 9, 17]]

    @Test func resizeMatchesNaive() throws {
        for (k, shape) in Self.shapes.enumerated() {
            let x = randomTensor(shape, seed: UInt64(k))
            let (h, w) = (shape[2], shape[3])
            let sizes: [((Int, Int), (Double, Double)?)] = [
                ((2 * h, 2 * w), nil), ((3 * h, 3 * w), (3, 3)), ((h + 4, 2 * w + 1), nil), ((max(1, h / 2), max(1, w - 3)), nil),
                ((h, w), nil), ((1, 7), nil), ((17, 33), nil), ((h * 3 / 2 + 1, w * 5 / 2), (1.5, 2.5)),
            ]
            for (size, sf) in sizes {
                let expected = try Naive.upsampleNearest(x, outputSize: size, scaleFactor: sf)
                try expectExactOnThreads("nearest \(shape) → \(size) sf \(String(describing: sf))", expected) {
                    try $0.upsampleNearest(x, outputSize: size, scaleFactor: sf)
                }
                let g = randomTensor(expected.shape, seed: 5)
                let nb = Naive.upsampleNearestBackward(g, inputShape: shape, scaleFactor: sf)
                try expectExactOnThreads("nearest backward \(shape) → \(size)", nb) {
                    try $0.upsampleNearestBackward(g, inputShape: shape, scaleFactor: sf)
                }
                for align in [false, true] {
                    let e = try Naive.upsampleBilinear(x, outputSize: size, alignCorners: align, scaleFactor: sf)
                    try expectExactOnThreads("bilinear \(shape) → \(size) align \(align)", e) {
                        try $0.upsampleBilinear(x, outputSize: size, alignCorners: align, scaleFactor: sf)
                    }
                    let b = Naive.upsampleBilinearBackward(g, inputShape: shape, alignCorners: align, scaleFactor: sf)
                    for threads in [1, 2] {
                        let c = CPU(threads: threads)
                        let fast = try c.upsampleBilinearBackward(g, inputShape: shape, alignCorners: align, scaleFactor: sf)
                        #expect(fast.scalars == (try c.upsampleBilinearBackward(g, inputShape: shape, alignCorners: align, scaleFactor: sf)).scalars)
                        expectClose(fast, b, rtol: 1e-5, atol: 1e-6, "bilinear backward \(shape) → \(size) align \(align)")
                    }
                }
            }
            for (size, sf) in sizes {
                for coordinates in NearestSampling.Coordinates.allCases {
                    for rounding in NearestSampling.Rounding.allCases {
                        let sampling = NearestSampling(coordinates: coordinates, rounding: rounding)
                        let e = try Naive.upsampleNearest(x, outputSize: size, scaleFactor: sf, sampling: sampling)
                        try expectExactOnThreads("nearest \(sampling) \(shape) → \(size)", e) {
                            try $0.upsampleNearest(x, outputSize: size, scaleFactor: sf, sampling: sampling)
                        }
                        let g = randomTensor(e.shape, seed: 6)
                        try expectExactOnThreads("nearest backward \(sampling) \(shape) → \(size)",
                                                 Naive.upsampleNearestBackward(g, inputShape: shape, scaleFactor: sf, sampling: sampling)) {
                            try $0.upsampleNearestBackward(g, inputShape: shape, scaleFactor: sf, sampling: sampling)
                        }
                    }
                }
                for align in [false, true] {
                    let e = try Naive.upsampleBicubic(x, outputSize: size, alignCorners: align, scaleFactor: sf)
                    try expectExactOnThreads("bicubic \(shape) → \(size) align \(align)", e) {
                        try $0.upsampleBicubic(x, outputSize: size, alignCorners: align, scaleFactor: sf)
                    }
                    let g = randomTensor(e.shape, seed: 7)
                    let b = Naive.upsampleBicubicBackward(g, inputShape: shape, alignCorners: align, scaleFactor: sf)
                    for threads in [1, 2] {
                        let fast = try CPU(threads: threads).upsampleBicubicBackward(g, inputShape: shape, alignCorners: align, scaleFactor: sf)
                        expectClose(fast, b, rtol: 1e-5, atol: 1e-5, "bicubic backward \(shape) → \(size) align \(align)")
                    }
                }
            }
            let up = try cpu.upsampleNearest(x, scale: (2, 3))
            expectClose(up, try Naive.upsampleNearest(x, outputSize: (2 * h, 3 * w), scaleFactor: (2, 3)), rtol: 0, atol: 0, "scale (2, 3)")
        }
    }

    @Test func pixelShuffleMatchesNaive() throws {
        for r in [1, 2, 3] {
            for (k, base) in ([[1, 1, 1, 1], [2, 3, 5, 7], [1, 2, 1, 17], [2, 1, 3, 33]] as [Shape]).enumerated() {
                let small = randomTensor([base[0], base[1] * r * r, base[2], base[3]], seed: UInt64(k))
                let big = try Naive.pixelShuffle(small, factor: r)
                try expectExactOnThreads("pixelShuffle \(small.shape) r \(r)", big) { try $0.pixelShuffle(small, factor: r) }
                try expectExactOnThreads("pixelUnshuffle \(big.shape) r \(r)", try Naive.pixelUnshuffle(big, factor: r)) {
                    try $0.pixelUnshuffle(big, factor: r)
                }
                expectClose(try cpu.pixelUnshuffle(big, factor: r), small, rtol: 0, atol: 0, "unshuffle inverts shuffle")
            }
        }
    }

    @Test func gradients() throws {
        let x = randomTensor([2, 2, 3, 4], seed: 11)
        try expectGradientsMatch("nearest size", inputs: [x]) { t, v in try t.upsampleNearest(v[0], outputSize: (5, 7)) }
        try expectGradientsMatch("nearest scale", inputs: [x]) { t, v in try t.upsampleNearest(v[0], scale: (2, 2)) }
        try expectGradientsMatch("nearest down", inputs: [x]) { t, v in try t.upsampleNearest(v[0], outputSize: (2, 3)) }
        for align in [false, true] {
            try expectGradientsMatch("bilinear \(align)", inputs: [x]) { t, v in
                try t.upsampleBilinear(v[0], outputSize: (5, 9), alignCorners: align)
            }
            try expectGradientsMatch("bilinear down \(align)", inputs: [x]) { t, v in
                try t.upsampleBilinear(v[0], outputSize: (2, 3), alignCorners: align)
            }
        }
        for align in [false, true] {
            try expectGradientsMatch("bicubic \(align)", inputs: [x]) { t, v in
                try t.upsampleBicubic(v[0], outputSize: (5, 9), alignCorners: align)
            }
            try expectGradientsMatch("bicubic down \(align)", inputs: [x]) { t, v in
                try t.upsampleBicubic(v[0], outputSize: (2, 3), alignCorners: align)
            }
        }
        try expectGradientsMatch("nearest half pixel", inputs: [x]) { t, v in
            try t.upsampleNearest(v[0], outputSize: (5, 2), sampling: NearestSampling(coordinates: .halfPixel, rounding: .roundPreferFloor))
        }
        for incl in [true, false] {
            try expectGradientsMatch("avgPool \(incl)", inputs: [x]) { t, v in
                try t.avgPool2d(v[0], Pool2dWindow(kernel: (3, 2), stride: (2, 1), padding: (1, 1)), countIncludePad: incl)
            }
        }
        try expectGradientsMatch("avgPool 2x2", inputs: [randomTensor([1, 2, 4, 6], seed: 3)]) { t, v in
            try t.avgPool2d(v[0], Pool2dWindow(kernel: (2, 2)))
        }
        try expectGradientsMatch("pixelShuffle", inputs: [randomTensor([1, 8, 2, 3], seed: 4)]) { t, v in
            try t.pixelShuffle(v[0], factor: 2)
        }
        try expectGradientsMatch("pixelUnshuffle", inputs: [randomTensor([2, 1, 4, 6], seed: 5)]) { t, v in
            try t.mul(t.pixelUnshuffle(v[0], factor: 2), t.pixelUnshuffle(v[0], factor: 2))
        }
    }

    @Test func errorsNameOpAndShapes() {
        expectTensorError(["pixelShuffle", "[1, 6, 2, 2]", "4"]) { _ = try cpu.pixelShuffle(Tensor(zeros: [1, 6, 2, 2]), factor: 2) }
        expectTensorError(["pixelUnshuffle", "[1, 2, 5, 4]", "2"]) { _ = try cpu.pixelUnshuffle(Tensor(zeros: [1, 2, 5, 4]), factor: 2) }
        expectTensorError(["avgPool2d", "[1, 1, 2, 2]", "kernel (h: 5, w: 5)"]) {
            _ = try cpu.avgPool2d(Tensor(zeros: [1, 1, 2, 2]), Pool2dWindow(kernel: (5, 5), padding: (1, 1)))
        }
        expectTensorError(["avgPool2d", "padding", "[1, 1, 8, 8]"]) {
            _ = try cpu.avgPool2d(Tensor(zeros: [1, 1, 8, 8]), Pool2dWindow(kernel: (2, 2), padding: (2, 0)))
        }
        expectTensorError(["upsampleBilinear", "[2, 3]"]) { _ = try cpu.upsampleBilinear(Tensor(zeros: [2, 3]), outputSize: (4, 6)) }
        expectTensorError(["upsampleBilinearBackward", "[1, 2, 4, 4]", "[1, 3, 2, 2]"]) {
            _ = try cpu.upsampleBilinearBackward(Tensor(zeros: [1, 2, 4, 4]), inputShape: [1, 3, 2, 2])
        }
        expectTensorError(["upsampleNearestBackward", "[3, 2]"]) {
            _ = try cpu.upsampleNearestBackward(Tensor(zeros: [1, 2, 4, 4]), inputShape: [3, 2])
        }
        expectTensorError(["upsampleNearest", "[1, 1, 2, 2]", "(0, 3)"]) {
            _ = try cpu.upsampleNearest(Tensor(zeros: [1, 1, 2, 2]), outputSize: (0, 3))
        }
    }
}
