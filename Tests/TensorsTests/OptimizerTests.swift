// Optimizers: AdamW and SGD follow torch.optim step for step; clipping, warmup, EMA, state round trip.
// Expected numbers come from PyTorch 2.13 (CPU):
//   p = [0.5, -1, 2, 0]; grads [[.1,-.2,.3,0],[1,.5,-.5,2],[-.3,0,.25,-1]] applied with opt.step() each.
//   AdamW(lr=0.1, weight_decay=0.01); SGD(lr=0.1, momentum=0.9, weight_decay=0.1);
//   SGD(lr=0.1, momentum=0.9, nesterov=True); clip_grad_norm_([[3,4,0],[12,0]], 6.5).

import Testing
@testable import Tensors

@Suite struct OptimizerTests {
    let cpu = CPU(threads: 2)
    static let grads: [[Float]] = [[0.1, -0.2, 0.3, 0.0], [1.0, 0.5, -0.5, 2.0], [-0.3, 0.0, 0.25, -1.0]]

    func run(_ make: (ParameterSet) -> Optimizer) throws -> [Float] {
        let p = Tensor(shape: [4], scalars: [0.5, -1.0, 2.0, 0.0])
        let set = try ParameterSet([("p", p)])
        let opt = make(set)
        for g in Self.grads { opt.step([Tensor(shape: [4], scalars: g)], lr: 0.1) }
        return p.scalars
    }

    func expectNear(_ a: [Float], _ b: [Float], _ what: String) {
        for (x, y) in zip(a, b) { #expect(abs(x - y) <= 2e-6 * max(1, abs(y)), "\(what): \(a) vs torch \(b)") }
    }

    @Test func adamWMatchesTorch() throws {
        expectNear(try run { AdamW($0, weightDecay: 0.01, cpu: cpu) },
                   [0.2765754461288452, -0.9755635857582092, 1.9192006587982178, -0.09720329940319061], "AdamW")
    }

    @Test func sgdMatchesTorch() throws {
        expectNear(try run { SGD($0, momentum: 0.9, weightDecay: 0.1, cpu: cpu) },
                   [0.286468505859375, -0.9854369759559631, 1.878095030784607, -0.27799999713897705], "SGD")
        expectNear(try run { SGD($0, momentum: 0.9, nesterov: true, cpu: cpu) },
                   [0.25161001086235046, -1.0667200088500977, 1.9848300218582153, -0.35199999809265137], "Nesterov")
    }

    @Test func clipMatchesTorch() {
        let a = Tensor(shape: [3], scalars: [3, 4, 0]), b = Tensor(shape: [2], scalars: [12, 0])
        let norm = clipGradientNorm([a, nil, b], maxNorm: 6.5)
        #expect(norm == 13)
        expectNear(a.scalars + b.scalars, [1.4999998807907104, 1.9999998807907104, 0.0, 5.999999523162842, 0.0], "clip")
        let small = Tensor(shape: [2], scalars: [0.3, 0.4])
        #expect(clipGradientNorm([small], maxNorm: 1) == 0.5 && small.scalars == [0.3, 0.4])
    }

    @Test func warmupAndCosine() {
        let s = LearningRateSchedule(base: 1, warmupSteps: 4)
        #expect((0..<6).map { s.rate(at: $0) } == [0.25, 0.5, 0.75, 1, 1, 1])
        let c = LearningRateSchedule(base: 1, warmupSteps: 0, cosineDecayTo: 10, minimum: 0.1)
        #expect(c.rate(at: 0) == 1 && abs(c.rate(at: 5) - 0.55) < 1e-6 && abs(c.rate(at: 10) - 0.1) < 1e-6)
    }

    @Test func emaMovesTowardParameters() throws {
        let p = Tensor(shape: [2], scalars: [0, 10])
        let set = try ParameterSet([("w", p)])
        let ema = try ExponentialMovingAverage(set, decay: 0.9)
        p.assign(Tensor(shape: [2], scalars: [1, 0]))
        ema.update(from: set)
        expectNear(ema.shadow["w"]!.scalars, [0.1, 9.0], "EMA")
        #expect(p.scalars == [1, 0], "EMA must not touch the live parameters")
    }

    @Test func stateRoundTripResumesExactly() throws {
        // Three steps straight vs. two steps, save state, new optimizer, load, one step.
        let straight = try run { AdamW($0, cpu: cpu) }
        let p = Tensor(shape: [4], scalars: [0.5, -1.0, 2.0, 0.0])
        let set = try ParameterSet([("p", p)])
        let first = AdamW(set, cpu: cpu)
        for g in Self.grads.prefix(2) { first.step([Tensor(shape: [4], scalars: g)], lr: 0.1) }
        let saved = first.stateTensors().mapValues { $0.copy() }
        let second = AdamW(set, cpu: cpu)
        try second.loadState(saved)
        second.step([Tensor(shape: [4], scalars: Self.grads[2])], lr: 0.1)
        #expect(p.scalars == straight)
        #expect(throws: TensorError.self) { try AdamW(set, cpu: cpu).loadState(["step": Tensor(scalar: 1)]) }
    }

    @Test func trainingLowersLoss() throws {
        // Fit y = x·Wᵀ + b with a tape, AdamW and clipping: the loss must fall by 100x.
        let x = randomTensor([32, 5], seed: 1), wTrue = randomTensor([3, 5], seed: 2)
        let y = try cpu.linear(x, weight: wTrue, bias: Tensor(shape: [3], scalars: [0.5, -0.5, 0.1]))
        let set = try ParameterSet([("w", Tensor(zeros: [3, 5])), ("b", Tensor(zeros: [3]))])
        let opt = AdamW(set, weightDecay: 0, cpu: cpu)
        var losses: [Float] = []
        for _ in 0..<300 {
            let tape = Tape(cpu: cpu)
            let w = tape.parameter(set.tensors[0]), b = tape.parameter(set.tensors[1])
            let loss = try tape.mseLoss(tape.linear(tape.constant(x), weight: w, bias: b), tape.constant(y))
            losses.append(tape[loss].scalar)
            let g = try tape.backward(from: loss)
            clipGradientNorm([g[w], g[b]], maxNorm: 1)
            opt.step([g[w], g[b]], lr: 0.05)
        }
        #expect(losses.last! < losses.first! / 100, "loss \(losses.first!) -> \(losses.last!)")
    }

    /// With a step, the decay warms up as min(decay, (1 + step) / (10 + step)).
    @Test func emaDecayWarmsUp() throws {
        let p = try ParameterSet([("w", Tensor(shape: [1], scalars: [0]))])
        let ema = try ExponentialMovingAverage(p, decay: 0.999)
        p.tensors[0].pointer[0] = 1
        ema.update(from: p, step: 0)  // decay 0.1: 0.9 of the new value
        #expect(abs(ema.shadow.tensors[0].pointer[0] - 0.9) < 1e-6)
        ema.update(from: p, step: 10_000)  // decay capped at 0.999
        #expect(abs(ema.shadow.tensors[0].pointer[0] - (0.999 * 0.9 + 0.001)) < 1e-6)
    }
}
