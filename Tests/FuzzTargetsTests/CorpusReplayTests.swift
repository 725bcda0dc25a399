// CorpusReplayTests: the committed fuzz inputs replayed through the harnesses without libFuzzer,
// so every CI run exercises them: each seed of fuzz/corpus/<target>/ runs through its target
// (none may crash), and some seed of each target must be accepted — else the harness never gets
// past the first check and fuzzing it explores nothing.

import Foundation
import FuzzTargets
import Testing

/// The committed inputs of `fuzz/<kind>/<target>/`, sorted by name.
func fuzzInputs(_ kind: String, _ target: FuzzTarget) -> [(name: String, bytes: [UInt8])] {
    let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../fuzz/\(kind)/\(target.rawValue)").standardizedFileURL.path
    let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    return names.compactMap { name in FileManager.default.contents(atPath: folder + "/" + name).map { (name, [UInt8]($0)) } }
}

@Suite struct CorpusReplayTests {
    @Test(arguments: FuzzTarget.allCases)
    func seedsReplayAndSomeAreAccepted(_ target: FuzzTarget) {
        let seeds = fuzzInputs("corpus", target)
        #expect(!seeds.isEmpty, "fuzz/corpus/\(target.rawValue) is empty (scripts/make_fuzz_corpus.py makes it)")
        let accepted = seeds.filter { target.run($0.bytes) == .accepted }.map(\.name)
        #expect(!accepted.isEmpty, "no seed of \(target.rawValue) is accepted")
    }
}
