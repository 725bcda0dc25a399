// RegressionTests: the inputs that once crashed a harness or made it allocate gigabytes, kept in
// fuzz/regressions/<target>/ and replayed through the same FuzzTargets call libFuzzer made: each
// must now be refused with an error that says what is wrong. One test per bug found; the last
// test covers any input added to the folders later.

import FuzzTargets
import Testing

@Suite struct RegressionTests {
    /// The error `target` refuses the regression input `name` with ("" when it is accepted).
    func refusal(_ target: FuzzTarget, _ name: String) throws -> String {
        let input = try #require(fuzzInputs("regressions", target).first { $0.name == name }, "fuzz/regressions/\(target.rawValue)/\(name) is missing")
        return target.run(input.bytes).message ?? ""
    }

    /// IDX images: n·h·w of a header's three u32 sizes overflowed Int (a trap) before it was compared with the file size.
    @Test func idxImageSizesThatOverflow() throws {
        let message = try refusal(.idx, "images-size-overflow-idx3-ubyte")
        #expect(message.contains("header says 6912 images of 100663524x4278255615 (more than 2^63 bytes) but the file holds 27"), "\(message)")
    }

    /// PNG: a 116-byte file whose tEXt chunk declared 1.7 GB made libpng allocate that much before finding the data missing.
    @Test func pngChunkLongerThanTheFile() throws {
        let message = try refusal(.png, "text-chunk-length-2gb.png")
        #expect(message.contains("chunk 'tEXt' at byte 70 declares 1761607697 bytes but only 34 follow"), "\(message)")
    }

    /// PNG: a 74-byte file declaring 16384x16384 RGB made PNG.decode allocate (and zero) 805 MB of
    /// pixels before libpng found 17 bytes of image data.
    @Test func pngImageLargerThanItsData() throws {
        let message = try refusal(.png, "ihdr-16384x16384-tiny-idat.png")
        #expect(message.contains("declares 16384x16384 pixels of 24 bits, more than its 17 bytes of compressed data can hold"), "\(message)")
    }

    /// PNG: a 224-byte file whose first IHDR declares 16384x16384 RGB and a later IHDR 8x8 passed
    /// the size check (it read the last IHDR; libpng sizes by the first), so PNG.decode allocated
    /// 805 MB. Found by the one-minute fuzz run in CI.
    @Test func pngSecondHeaderCannotVouchForTheFirst() throws {
        let message = try refusal(.png, "second-ihdr-hides-16384x16384.png")
        #expect(message.contains("a second IHDR chunk at byte 74 (a PNG has exactly one)"), "\(message)")
    }

    /// IDX images: with no images, h·w alone overflowed in ImageStack's checks (a trap).
    @Test func idxRowsThatOverflowWithNoImages() throws {
        let message = try refusal(.idx, "no-images-rows-overflow-idx3-ubyte")
        #expect(message.contains("header says 0 images of 4294967295x4294967041 (more than 2^63 bytes) but the file holds 16"), "\(message)")
    }

    /// PNG: the size check's own message converted a declared size beyond 2^63 bytes to Int (a
    /// trap), reached from a query string's and a JSON body's init_image too.
    @Test func pngSizeBeyondInt() throws {
        let message = try refusal(.png, "ihdr-beyond-2-63-bytes.png")
        #expect(message.contains("declares 2148007386x3900440576 pixels of 24 bits, more than its 280 bytes of compressed data can hold"), "\(message)")
        for (target, name) in [(FuzzTarget.query, "init-image-ihdr-beyond-2-63-bytes.txt"), (.json, "init-image-ihdr-beyond-2-63-bytes.json")] {
            let message = try refusal(target, name)
            #expect(message.contains("init_image is not a PNG: init_image: declares 50659401x1712341439 pixels"), "\(target.rawValue): \(message)")
        }
    }

    /// .npy: a shape's element count times the element width, and the element count itself,
    /// overflowed Int (traps) before they were compared with the data.
    @Test func npyShapesThatOverflow() throws {
        let bytes = try refusal(.npy, "shape-bytes-overflow.npy")
        #expect(bytes.contains("shape 000007707397961926496185 of <f4 has more bytes than can be addressed"), "\(bytes)")
        let elements = try refusal(.npy, "shape-elements-overflow.npy")
        #expect(elements.contains("shape (4294967296, 4294967296) has more elements than can be addressed"), "\(elements)")
    }

    /// ONNX: the image input's declared C, H, W became the model's image shape unchecked — a
    /// negative one failed a precondition and [1, 65536, 65536] allocated 16 GiB when the batch
    /// stepper made its buffers; a schedule's num_train_timesteps of 9e99 trapped in Int(_:).
    @Test func onnxImageShapesAndTimestepCounts() throws {
        for name in ["image-channels-negative.onnx", "image-4g-elements.onnx"] {
            let message = try refusal(.onnx, name)
            #expect(message.contains("must be [channels, height, width], each at least 1, 268435456 elements at most"), "\(name): \(message)")
        }
        let message = try refusal(.onnx, "timesteps-9e99.onnx")
        #expect(message.contains("metadata denoise.num_train_timesteps = '9e99' is not a timestep count"), "\(message)")
    }

    @Test(arguments: FuzzTarget.allCases)
    func everyRegressionInputIsRefused(_ target: FuzzTarget) {
        for input in fuzzInputs("regressions", target) {
            #expect(target.run(input.bytes) != .accepted, "fuzz/regressions/\(target.rawValue)/\(input.name) is accepted")
        }
    }
}
