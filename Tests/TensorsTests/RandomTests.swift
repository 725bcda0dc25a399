// Philox4x32-10 and the noise fills: Random123 known answers, pinned first values (a seed must mean
// the same noise forever), independence from thread count and tensor extent, and statistics.
// Pinned literals come from an independent pure-Python implementation:
//   /work/venv/bin/python scripts/make_fixtures.py philox

import Testing
@testable import Tensors
import TestSupport

@Suite struct RandomTests {
    /// Random123 kat_vectors, "philox4x32 10" lines: counter, key → output.
    @Test func knownAnswerVectors() {
        let cases: [(SIMD4<UInt32>, SIMD2<UInt32>, SIMD4<UInt32>)] = [
            (SIMD4(0, 0, 0, 0), SIMD2(0, 0), SIMD4(0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8)),
            (SIMD4(repeating: 0xffff_ffff), SIMD2(repeating: 0xffff_ffff),
             SIMD4(0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd)),
            (SIMD4(0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344), SIMD2(0xa409_3822, 0x299f_31d0),
             SIMD4(0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1)),
        ]
        for (counter, key, expected) in cases {
            #expect(Philox.philox4x32_10(counter: counter, key: key) == expected, "counter \(counter) key \(key)")
        }
    }

    @Test func seedStreamAndPositionMapOntoKeyAndCounter() {
        let g = Philox(seed: 0x299f_31d0_a409_3822, stream: 0x0370_7344_1319_8a2e)
        #expect(g.key == SIMD2(0xa409_3822, 0x299f_31d0))
        #expect(g.block(at: 0x85a3_08d3_243f_6a88) == SIMD4(0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1))
        var s = Philox(seed: 5, stream: 9)
        let first = s.next(), second = s.next()
        #expect(first == s.block(at: 0) && second == s.block(at: 1) && s.position == 2)
        #expect(first != Philox(seed: 5, stream: 10).block(at: 0))
        #expect(first != Philox(seed: 6, stream: 9).block(at: 0))
    }

    @Test func pinnedFirstValues() throws {
        let cpu = CPU(threads: 1)
        let uniform0: [Float] = [0.3990464210510254, 0.8805201649665833, 0.7357127666473389, 0.6054818034172058,
                                 0.9722411632537842, 0.362091064453125, 0.6939308643341064, 0.037094056606292725]
        let normal0: [Float] = [0.9911375045776367, -0.9246627688407898, -0.6176090836524963, -0.48206835985183716,
                                -0.1536381095647812, 0.180825874209404, 0.8317351341247559, 0.19743959605693817]
        let uniform42: [Float] = [0.6129598617553711, 0.4685865044593811, 0.07323169708251953, 0.3408614993095398,
                                  0.9877186417579651, 0.32706332206726074, 0.5139061212539673, 0.45431554317474365]
        let normal42: [Float] = [-0.9701896905899048, 0.19401901960372925, -1.2356200218200684, 1.9239270687103271,
                                 -0.07318130880594254, 0.13913723826408386, -1.1066648960113525, 0.3266833424568176]
        let normal7s3: [Float] = [0.7288840413093567, 0.7178202867507935, -1.5432460308074951, -1.117998480796814,
                                  -0.9989460110664368, 0.2573394477367401, -2.2759299278259277, -0.3194855749607086]
        let hint = "regenerate the literals with `/work/venv/bin/python scripts/make_fixtures.py philox` only if the documented mapping changed on purpose"
        #expect(try cpu.randomUniform([8], seed: 0).scalars == uniform0, "\(hint)")
        #expect(try cpu.randomNormal([8], seed: 0).scalars == normal0, "\(hint)")
        #expect(try cpu.randomUniform([2, 4], seed: 42).scalars == uniform42, "\(hint)")
        #expect(try cpu.randomNormal([2, 2, 2], seed: 42).scalars == normal42, "\(hint)")
        #expect(try cpu.randomNormal([8], seed: 7, stream: 3).scalars == normal7s3, "\(hint)")
    }

    @Test func identicalForAnyThreadCountAndExtent() throws {
        let one = CPU(threads: 1), two = CPU(threads: 2)
        for (seed, stream) in [(UInt64(0), UInt64(0)), (42, 7), (UInt64.max, UInt64.max)] {
            let n1 = try one.randomNormal([100_003], seed: seed, stream: stream)
            let n2 = try two.randomNormal([100_003], seed: seed, stream: stream)
            #expect(n1.scalars == n2.scalars, "normal seed \(seed) stream \(stream): threads 1 vs 2")
            #expect(try two.randomNormal([100_003], seed: seed, stream: stream).scalars == n2.scalars, "repeat run")
            let u1 = try one.randomUniform([50_001], seed: seed, stream: stream, low: -2, high: 3)
            let u2 = try two.randomUniform([50_001], seed: seed, stream: stream, low: -2, high: 3)
            #expect(u1.scalars == u2.scalars, "uniform seed \(seed): threads 1 vs 2")

            // A prefix equals the small tensor; a suffix generated with `offset` equals the rest,
            // for offsets that do and do not fall on a block boundary.
            #expect(try two.randomNormal([10], seed: seed, stream: stream).scalars == Array(n1.scalars.prefix(10)))
            for split in [1, 4, 7, 1000, 65_537] {
                let tail = try two.randomNormal([100_003 - split], seed: seed, stream: stream, offset: UInt64(split))
                #expect(tail.scalars == Array(n1.scalars[split...]), "normal suffix from \(split)")
                if split < 50_001 {
                    let utail = try two.randomUniform([50_001 - split], seed: seed, stream: stream, offset: UInt64(split),
                                                      low: -2, high: 3)
                    #expect(utail.scalars == Array(u1.scalars[split...]), "uniform suffix from \(split)")
                }
            }
        }
    }

    @Test func perSampleStreamsIgnoreBatchPacking() throws {
        let cpu = CPU(threads: 2)
        // Sample k of a batch filled with stream k equals the same sample generated alone.
        let batch = Tensor(zeros: [3, 3, 5, 5])
        for k in 0..<3 { try cpu.fillNormal(batch.rows(k..<k + 1), seed: 11, stream: UInt64(k)) }
        let alone = try cpu.randomNormal([1, 3, 5, 5], seed: 11, stream: 2)
        #expect(batch.rows(2..<3).scalars == alone.scalars)
        #expect(batch.rows(0..<1).scalars != alone.scalars)
    }

    @Test func statistics() throws {
        let cpu = CPU(threads: 2)
        let n = 1_000_000
        let z = try cpu.randomNormal([n], seed: 1234, stream: 5)
        var sum = 0.0, sumSq = 0.0, maxAbs: Float = 0, beyond2 = 0
        for x in z.scalars {
            sum += Double(x); sumSq += Double(x) * Double(x)
            maxAbs = max(maxAbs, abs(x))
            if abs(x) > 2 { beyond2 += 1 }
        }
        let mean = sum / Double(n), variance = sumSq / Double(n) - mean * mean
        // Standard errors: mean 1e-3, variance ~1.4e-3; bounds are about 5 standard errors.
        #expect(abs(mean) < 0.005, "mean \(mean)")
        #expect(abs(variance - 1) < 0.007, "variance \(variance)")
        #expect(maxAbs <= 5.78, "max |z| \(maxAbs)")
        // P(|z| > 2) = 0.0455; standard error ~2.1e-4.
        #expect(abs(Double(beyond2) / Double(n) - 0.0455) < 0.0011, "tail fraction \(Double(beyond2) / Double(n))")

        let u = try cpu.randomUniform([n], seed: 99, low: -3, high: 5)
        var lo: Float = .infinity, hi: Float = -.infinity, usum = 0.0
        var bins = [Int](repeating: 0, count: 8)
        for x in u.scalars {
            lo = min(lo, x); hi = max(hi, x); usum += Double(x)
            bins[min(7, Int(x + 3))] += 1
        }
        #expect(lo >= -3 && hi < 5, "range [\(lo), \(hi)]")
        #expect(abs(usum / Double(n) - 1) < 0.012, "uniform mean \(usum / Double(n))")
        for (b, c) in bins.enumerated() { #expect(abs(c - n / 8) < 2_000, "bin \(b): \(c)") }

        let unit = try cpu.randomUniform([n], seed: 3)
        #expect(unit.scalars.allSatisfy { $0 >= 0 && $0 < 1 })
    }

    @Test func meanStdAndBadArguments() throws {
        let cpu = CPU(threads: 2)
        let z = try cpu.randomNormal([1000], seed: 8)
        let scaled = try cpu.randomNormal([1000], seed: 8, mean: 2, std: 0.5)
        for i in 0..<1000 { #expect(scaled.pointer[i] == 2 + 0.5 * z.pointer[i]) }
        do { _ = try cpu.randomNormal([2, 3], seed: 0, std: -1); Issue.record("no error") } catch {
            #expect("\(error)".contains("fillNormal") && "\(error)".contains("[2, 3]"), "\(error)")
        }
        do { _ = try cpu.randomUniform([4], seed: 0, low: 1, high: 0); Issue.record("no error") } catch {
            #expect("\(error)".contains("fillUniform") && "\(error)".contains("[4]"), "\(error)")
        }
        #expect(try cpu.randomNormal([0], seed: 1).count == 0)
    }
}
