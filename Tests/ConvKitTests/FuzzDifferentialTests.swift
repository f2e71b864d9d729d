import ConvKit
import Foundation
import Testing

/// Differential fuzzing: thousands of random valid descriptors run on every available
/// backend and compared with the float64 reference; random invalid descriptors and bad
/// execute arguments must give a typed ``ConvError`` (never a trap) without writing anything.
///
/// Reproduce a failure with the seed it prints:
/// `CONVKIT_FUZZ_SEED=<seed> CONVKIT_FUZZ_COUNT=<n> swift test --filter FuzzDifferential`.
/// Every failure found is minimised and kept as a named test in RegressionTests.swift.
@Suite("Fuzz: differential and invalid descriptors")
struct FuzzDifferentialTests {
    /// `CONVKIT_FUZZ_SEED` (decimal or 0x-hex), else a fixed seed so CI is deterministic.
    static let seed: UInt64 = {
        let env = ProcessInfo.processInfo.environment["CONVKIT_FUZZ_SEED"] ?? ""
        if env.hasPrefix("0x"), let v = UInt64(env.dropFirst(2), radix: 16) { return v }
        return UInt64(env) ?? 0xC0FF_EE00_2026
    }()

    /// `CONVKIT_FUZZ_COUNT`, else `fallback`.
    static func count(_ fallback: Int) -> Int {
        Int(ProcessInfo.processInfo.environment["CONVKIT_FUZZ_COUNT"] ?? "").flatMap { $0 > 0 ? $0 : nil } ?? fallback
    }

    /// The valid descriptors compared (3000 by default).
    static let validCount = count(3000)
    /// The invalid descriptors checked (3000 by default).
    static let invalidCount = count(3000)

    // MARK: valid descriptors

    @Test("random valid descriptors: every backend agrees with the reference")
    func differential() throws {
        var rng = TestRandom(seed: Self.seed)
        var failures: [String] = []
        var runs: [String: Int] = [:]
        let backends = reliabilityBackends.filter { $0.name != "reference" }
        let start = Date()
        for i in 0..<Self.validCount where failures.count < 10 {
            let d = fuzzDescriptor(using: &rng)
            let threads = Int.random(in: 1...3, using: &rng)
            let c = ConvCase(d, seed: Self.seed &+ UInt64(i))
            let label = "fuzz case \(i) (CONVKIT_FUZZ_SEED=\(Self.seed)) threads \(threads): \(d)"
            let ref: [Float], scale: Double
            do {
                ref = try c.reference()
                scale = try accumulationScale(c, ref, seed: Self.seed &+ UInt64(i))
            } catch {
                failures.append("reference \(label): \(error)")
                continue
            }
            for backend in backends {
                guard backend.support(for: d).isSupported else {
                    do {
                        _ = try c.run(backend, threads: threads)
                        failures.append("\(backend.name) \(label): unsupported but ran")
                    } catch is ConvError {
                    } catch {
                        failures.append("\(backend.name) \(label): untyped error \(error)")
                    }
                    continue
                }
                do {
                    let y = try c.run(backend, threads: threads)
                    runs[backend.name, default: 0] += 1
                    let err = fuzzError(y, ref, scale: scale)
                    let tol = CrossBackendAgreementTests.tolerance(for: backend, d)
                    if !(err <= tol) { failures.append("\(backend.name) \(label): error \(err) > \(tol)") }
                } catch {
                    failures.append("\(backend.name) \(label): \(error)")
                }
            }
        }
        let seconds = Date().timeIntervalSince(start)
        #expect(failures.isEmpty, "\(failures.count) failures (seed \(Self.seed), \(Int(seconds)) s):\n\(failures.joined(separator: "\n"))")
        // Every backend ran a good share of the cases (the generator reaches every path).
        for backend in backends { #expect(runs[backend.name, default: 0] >= Self.validCount / 10, "\(backend.name)") }
    }

    // MARK: invalid descriptors

    @Test("random invalid descriptors: validate and every backend's prepare throw ConvError")
    func invalidDescriptors() throws {
        var rng = TestRandom(seed: Self.seed ^ 0x1BAD)
        var failures: [String] = []
        var kinds: [String: Int] = [:]
        // Every registered backend, available or not, and auto.
        let backends = BackendRegistry.shared.all + [try BackendRegistry.shared.backend(named: "auto")]
        let someWeights = [Float](repeating: 0.5, count: 64)
        for i in 0..<Self.invalidCount where failures.count < 10 {
            let (kind, d) = invalidDescriptor(using: &rng)
            kinds[kind, default: 0] += 1
            let label = "invalid case \(i) [\(kind)] (CONVKIT_FUZZ_SEED=\(Self.seed)): \(d)"
            // Reading the derived properties of an invalid descriptor never traps.
            _ = (d.description, d.fitsExactly, d.outputShape, d.weightShape, d.inputCount, d.outputCount, d.flops,
                 d.parameterCount, d.exactOutputHeight, d.exactOutputWidth, d.isDepthwise)
            do {
                try d.validate()
                failures.append("validate \(label): no error")
            } catch is ConvError {
            } catch {
                failures.append("validate \(label): untyped error \(error)")
            }
            for backend in backends {
                _ = backend.support(for: d)
                for weights in [someWeights, []] {
                    do {
                        _ = try backend.prepare(d, weights: weights, bias: d.hasBias ? [1, 2] : nil)
                        failures.append("\(backend.name) \(label): prepared")
                    } catch is ConvError {
                    } catch {
                        failures.append("\(backend.name) \(label): untyped error \(error)")
                    }
                }
            }
        }
        #expect(failures.isEmpty, "\(failures.count) failures:\n\(failures.joined(separator: "\n"))")
        // The generator reaches several kinds of invalid descriptor.
        #expect(kinds.count >= 3, "kinds: \(kinds.sorted { $0.key < $1.key })")
    }

    // MARK: bad execute arguments

    @Test("mis-sized, empty or overlapping buffers and bad thread counts throw before writing",
          arguments: ReliabilityPath.all)
    func badExecuteArguments(_ path: ReliabilityPath) throws {
        let d = path.descriptor
        let c = ConvCase(d, seed: 4)
        let prepared = try path.backend.prepare(d, weights: c.weights, bias: c.bias)
        let sentinel: Float = -12345.5
        func expectRejected(_ name: String, input: [Float], outputCount: Int, threads: Int?,
                            _ expected: ConvError) {
            var y = [Float](repeating: sentinel, count: outputCount)
            let x = input
            let error = #expect(throws: ConvError.self, "\(path.label): \(name)") {
                try x.withUnsafeBufferPointer { xb in
                    try y.withUnsafeMutableBufferPointer { yb in
                        try prepared.execute(input: xb, output: yb, threads: threads)
                    }
                }
            }
            #expect(error == expected, "\(path.label): \(name)")
            #expect(y.allSatisfy { $0 == sentinel }, "\(path.label): \(name) wrote into the output")
            #expect(x == input, "\(path.label): \(name) changed the input")
        }
        let inN = d.inputCount, outN = d.outputCount
        expectRejected("input one short", input: Array(c.input.dropLast()), outputCount: outN, threads: 1,
                       .bufferTooSmall(what: "input", required: inN, actual: inN - 1))
        expectRejected("empty input", input: [], outputCount: outN, threads: 1,
                       .bufferTooSmall(what: "input", required: inN, actual: 0))
        expectRejected("output one short", input: c.input, outputCount: outN - 1, threads: 1,
                       .bufferTooSmall(what: "output", required: outN, actual: outN - 1))
        expectRejected("empty output", input: c.input, outputCount: 0, threads: 2,
                       .bufferTooSmall(what: "output", required: outN, actual: 0))
        for t in [0, -1, Int.min] {
            expectRejected("threads \(t)", input: c.input, outputCount: outN, threads: t,
                           .nonPositive(parameter: "threads", value: t))
        }
        // Overlaps: output starting inside the input, input starting inside the output, identical.
        for (name, inStart, outStart) in [("output inside input", 0, inN / 2), ("input inside output", outN / 2, 0),
                                          ("same start", 0, 0), ("last element shared", 0, inN - 1)] {
            var all = [Float](repeating: sentinel, count: max(inStart + inN, outStart + outN))
            for j in 0..<inN { all[inStart + j] = c.input[j] }
            let before = all
            let error = #expect(throws: ConvError.self, "\(path.label): \(name)") {
                try all.withUnsafeMutableBufferPointer { buffer in
                    let x = UnsafeBufferPointer(rebasing: buffer[inStart..<inStart + inN])
                    let y = UnsafeMutableBufferPointer(rebasing: buffer[outStart..<outStart + outN])
                    try prepared.execute(input: x, output: y, threads: 2)
                }
            }
            #expect(error == .overlappingBuffers, "\(path.label): \(name)")
            #expect(bitwiseEqual(all, before), "\(path.label): \(name) wrote into the shared buffer")
        }
        // Adjacent buffers in one allocation are fine, and oversized buffers: only outputCount written.
        var all = [Float](repeating: sentinel, count: inN + outN + 3)
        for j in 0..<inN { all[j] = c.input[j] }
        try all.withUnsafeMutableBufferPointer { buffer in
            try prepared.execute(input: UnsafeBufferPointer(rebasing: buffer[0..<inN]),
                                 output: UnsafeMutableBufferPointer(rebasing: buffer[inN...]), threads: 2)
        }
        let expected = try executeFilled(prepared, c.input, threads: 2)
        if path.backend.name != "onednn" {
            #expect(bitwiseEqual(Array(all[inN..<inN + outN]), expected), "\(path.label): adjacent buffers")
        } else {
            #expect(normalizedMaxError(Array(all[inN..<inN + outN]), expected) <= 1e-6, "\(path.label)")
        }
        #expect(all[(inN + outN)...].allSatisfy { $0 == sentinel }, "\(path.label): wrote past outputCount")
        // Many more threads than work is fine (oneDNN excluded: it would start that many OpenMP threads).
        if path.backend.name != "onednn" {
            let y = try executeFilled(prepared, c.input, threads: 64)
            #expect(bitwiseEqual(y, try executeFilled(prepared, c.input, threads: 1)), "\(path.label): 64 threads")
        }
    }
}

// MARK: error measure

/// The magnitude the accumulation error scales with: `max |ref|` before the activation.
/// A narrow clamp (say to [-0.1, 0.01]) leaves outputs far smaller than the sums that produced
/// them, and the float32 rounding error of those sums (found by this fuzz test: 1.7e-5 of the
/// clamped maximum, 2.5e-6 absolute, on a 288-tap layer) is not a backend error.
func accumulationScale(_ c: ConvCase, _ ref: [Float], seed: UInt64) throws -> Double {
    let maxRef = ref.lazy.filter(\.isFinite).map { Double(abs($0)) }.max() ?? 0
    guard c.descriptor.activation != .none else { return maxRef }
    var linear = c.descriptor
    linear.activation = .none
    // The same seed draws the same input, weights and bias (the activation takes no values).
    let pre = try ConvCase(linear, seed: seed).reference()
    return max(maxRef, pre.lazy.filter(\.isFinite).map { Double(abs($0)) }.max() ?? 0)
}

/// `max |y - ref| / scale` (absolute when the scale is 0); infinity when NaN/infinity patterns differ.
func fuzzError(_ y: [Float], _ ref: [Float], scale: Double) -> Double {
    let normalized = normalizedMaxError(y, ref)
    guard normalized.isFinite else { return normalized }
    let maxRef = ref.lazy.filter(\.isFinite).map { Double(abs($0)) }.max() ?? 0
    let absolute = maxRef > 0 ? normalized * maxRef : normalized
    return scale > 0 ? absolute / scale : absolute
}

// MARK: generators

/// A random valid descriptor that reaches every execution path often: the shared
/// `randomDescriptor`, Winograd-eligible 3x3 layers (including more than 256 channels, two
/// GEMM depth blocks), depthwise layers with large strides and dilations, 1x1 layers, deep
/// im2col (more than one 256-tap block), clamp bounds of every kind and exact rounding.
func fuzzDescriptor(using rng: inout TestRandom) -> Conv2DDescriptor {
    func pad(_ hi: Int) -> Padding {
        Padding(top: Int.random(in: 0...hi, using: &rng), left: Int.random(in: 0...hi, using: &rng),
                bottom: Int.random(in: 0...hi, using: &rng), right: Int.random(in: 0...hi, using: &rng))
    }
    func activation() -> Activation {
        switch Int.random(in: 0..<6, using: &rng) {
        case 0, 1: return .none
        case 2: return .relu
        case 3: return .relu6
        case 4:
            let lo = Float.random(in: -2...0.5, using: &rng)
            return .clamp(min: lo, max: lo + Float.random(in: 0...2, using: &rng))
        default: return .clamp(min: -.infinity, max: Float.random(in: -0.5...1, using: &rng))
        }
    }
    while true {
        var d: Conv2DDescriptor
        switch Int.random(in: 0..<6, using: &rng) {
        case 0:
            d = randomDescriptor(using: &rng)
        case 1:  // Winograd-eligible
            let wide = Int.random(in: 0..<20, using: &rng) == 0
            d = Conv2DDescriptor(
                batch: Int.random(in: 1...2, using: &rng),
                inputChannels: wide ? Int.random(in: 257...300, using: &rng) : Int.random(in: 1...20, using: &rng),
                inputHeight: Int.random(in: 1...(wide ? 6 : 17), using: &rng),
                inputWidth: Int.random(in: 1...(wide ? 6 : 17), using: &rng),
                outputChannels: Int.random(in: 1...20, using: &rng), kernelHeight: 3, kernelWidth: 3,
                padding: pad(2), hasBias: Bool.random(using: &rng), activation: activation())
        case 2:  // depthwise
            let c = Int.random(in: 2...12, using: &rng)
            d = Conv2DDescriptor(
                batch: Int.random(in: 1...2, using: &rng), inputChannels: c,
                inputHeight: Int.random(in: 1...16, using: &rng), inputWidth: Int.random(in: 1...40, using: &rng),
                outputChannels: c, kernelHeight: Int.random(in: 1...5, using: &rng),
                kernelWidth: Int.random(in: 1...5, using: &rng),
                strideHeight: Int.random(in: 1...4, using: &rng), strideWidth: Int.random(in: 1...4, using: &rng),
                padding: pad(4), dilationHeight: Int.random(in: 1...3, using: &rng),
                dilationWidth: Int.random(in: 1...3, using: &rng), groups: c, hasBias: Bool.random(using: &rng),
                activation: activation())
        case 3:  // 1x1
            d = Conv2DDescriptor(
                batch: Int.random(in: 1...2, using: &rng), inputChannels: Int.random(in: 1...40, using: &rng),
                inputHeight: Int.random(in: 1...12, using: &rng), inputWidth: Int.random(in: 1...12, using: &rng),
                outputChannels: Int.random(in: 1...40, using: &rng), kernelHeight: 1, kernelWidth: 1,
                strideHeight: Int.random(in: 1...2, using: &rng), strideWidth: Int.random(in: 1...3, using: &rng),
                padding: pad(1), hasBias: Bool.random(using: &rng), activation: activation())
        case 4:  // deep im2col: (C/g) R S above 256
            let g = Int.random(in: 1...2, using: &rng)
            d = Conv2DDescriptor(
                inputChannels: g * Int.random(in: 29...40, using: &rng), inputHeight: Int.random(in: 3...7, using: &rng),
                inputWidth: Int.random(in: 3...9, using: &rng), outputChannels: g * Int.random(in: 1...8, using: &rng),
                kernelHeight: 3, kernelWidth: 3, strideWidth: Int.random(in: 1...2, using: &rng), padding: pad(1),
                groups: g, hasBias: Bool.random(using: &rng), activation: activation())
        default:  // anything small, rectangular, exact rounding sometimes
            let g = Int.random(in: 1...3, using: &rng)
            d = Conv2DDescriptor(
                batch: Int.random(in: 1...3, using: &rng), inputChannels: g * Int.random(in: 1...5, using: &rng),
                inputHeight: Int.random(in: 1...14, using: &rng), inputWidth: Int.random(in: 1...14, using: &rng),
                outputChannels: g * Int.random(in: 1...5, using: &rng),
                kernelHeight: Int.random(in: 1...7, using: &rng), kernelWidth: Int.random(in: 1...7, using: &rng),
                strideHeight: Int.random(in: 1...5, using: &rng), strideWidth: Int.random(in: 1...5, using: &rng),
                padding: pad(5), dilationHeight: Int.random(in: 1...3, using: &rng),
                dilationWidth: Int.random(in: 1...3, using: &rng), groups: g, hasBias: Bool.random(using: &rng),
                activation: activation(), rounding: Bool.random(using: &rng) ? .exact : .floor)
        }
        if (try? d.validate()) != nil { return d }
    }
}

/// A random descriptor that is certainly invalid, and the kind of corruption applied to a
/// valid one: non-positive or `Int.min` sizes, negative padding, groups that do not divide,
/// kernels larger than the padded input, sizes near `Int.max` that overflow, NaN or
/// crossed clamp bounds, inexact fits with `.exact` rounding.
func invalidDescriptor(using rng: inout TestRandom) -> (String, Conv2DDescriptor) {
    let positive: [WritableKeyPath<Conv2DDescriptor, Int>] = [
        \.batch, \.inputChannels, \.inputHeight, \.inputWidth, \.outputChannels, \.kernelHeight, \.kernelWidth,
        \.strideHeight, \.strideWidth, \.dilationHeight, \.dilationWidth, \.groups]
    let sides: [WritableKeyPath<Padding, Int>] = [\.top, \.left, \.bottom, \.right]
    let huge = [Int.max, Int.max / 2, Int.max / 2 + 1, Int.max / 4 + 1, 1 << 32, 1 << 40]
    while true {
        var d = randomDescriptor(using: &rng)
        let kind: String
        switch Int.random(in: 0..<10, using: &rng) {
        case 0:
            kind = "non-positive size"
            d[keyPath: positive.randomElement(using: &rng)!] = [0, -1, -7, Int.min, Int.min / 2]
                .randomElement(using: &rng)!
        case 1:
            kind = "negative padding"
            d.padding[keyPath: sides.randomElement(using: &rng)!] = [-1, -3, Int.min].randomElement(using: &rng)!
        case 2:
            kind = "groups do not divide"
            d.groups = Int.random(in: 2...9, using: &rng)
            if d.inputChannels % d.groups == 0 && d.outputChannels % d.groups == 0 { d.inputChannels += 1 }
        case 3:
            kind = "kernel larger than padded input"
            if Bool.random(using: &rng) {
                d.kernelHeight = d.inputHeight + d.padding.top + d.padding.bottom + Int.random(in: 1...5, using: &rng)
            } else {
                d.dilationWidth = d.inputWidth + d.padding.left + d.padding.right + Int.random(in: 1...5, using: &rng)
                d.kernelWidth = max(d.kernelWidth, 2)
            }
        case 4:
            kind = "huge spatial size"
            d.inputHeight = huge.randomElement(using: &rng)!
            d.inputWidth = huge.randomElement(using: &rng)!
        case 5:
            kind = "huge batch or channels"
            let g = d.groups
            switch Int.random(in: 0..<3, using: &rng) {
            case 0: d.batch = huge.randomElement(using: &rng)!; d.inputChannels = max(d.inputChannels, 2 * g)
            case 1: d.inputChannels = (huge.randomElement(using: &rng)! / g) * g; d.inputWidth = max(d.inputWidth, 2)
            default: d.outputChannels = (huge.randomElement(using: &rng)! / g) * g
            }
        case 6:
            kind = "huge kernel, dilation or padding"
            switch Int.random(in: 0..<3, using: &rng) {
            case 0: d.kernelWidth = huge.randomElement(using: &rng)!
            case 1: d.dilationHeight = huge.randomElement(using: &rng)!; d.kernelHeight = max(d.kernelHeight, 2)
            default: d.padding.top = Int.max - Int.random(in: 0...2, using: &rng); d.padding.bottom = 3
            }
        case 7:
            kind = "invalid clamp"
            d.activation = [.clamp(min: .nan, max: 1), .clamp(min: 0, max: .nan), .clamp(min: .nan, max: .nan),
                            .clamp(min: 1, max: 0), .clamp(min: .infinity, max: -.infinity),
                            .clamp(min: 6, max: 5.999)].randomElement(using: &rng)!
        case 8:
            kind = "inexact fit with .exact"
            d.rounding = .exact
            if d.fitsExactly { d.strideHeight += 1 }
        default:
            kind = "two corruptions"
            d.groups = 0
            d.padding.left = -1
        }
        if !isCertainlyValid(d) { return (kind, d) }
    }
}

/// An independent, overflow-proof check of the validity rules (the oracle for the invalid
/// fuzz): used to discard the rare corruption that leaves a descriptor valid, for example a
/// larger stride that happens to fit exactly, or a batch of 2^32 whose sizes still fit in Int.
private func isCertainlyValid(_ d: Conv2DDescriptor) -> Bool {
    func mul(_ xs: Int...) -> Int? {
        var r = 1
        for x in xs {
            let (p, o) = r.multipliedReportingOverflow(by: x)
            if o { return nil }
            r = p
        }
        return r
    }
    func add(_ xs: Int...) -> Int? {
        var r = 0
        for x in xs {
            let (p, o) = r.addingReportingOverflow(x)
            if o { return nil }
            r = p
        }
        return r
    }
    let sizes = [d.batch, d.inputChannels, d.inputHeight, d.inputWidth, d.outputChannels, d.kernelHeight,
                 d.kernelWidth, d.strideHeight, d.strideWidth, d.dilationHeight, d.dilationWidth, d.groups]
    guard sizes.allSatisfy({ $0 >= 1 }) else { return false }
    guard [d.padding.top, d.padding.left, d.padding.bottom, d.padding.right].allSatisfy({ $0 >= 0 }) else { return false }
    guard d.inputChannels % d.groups == 0, d.outputChannels % d.groups == 0 else { return false }
    if case let .clamp(lo, hi) = d.activation, lo.isNaN || hi.isNaN || lo > hi { return false }
    guard let er = mul(d.kernelHeight - 1, d.dilationHeight).flatMap({ add($0, 1) }),
          let es = mul(d.kernelWidth - 1, d.dilationWidth).flatMap({ add($0, 1) }),
          let ph = add(d.inputHeight, d.padding.top, d.padding.bottom),
          let pw = add(d.inputWidth, d.padding.left, d.padding.right), er <= ph, es <= pw else { return false }
    if d.rounding == .exact, (ph - er) % d.strideHeight != 0 || (pw - es) % d.strideWidth != 0 { return false }
    let oh = (ph - er) / d.strideHeight + 1, ow = (pw - es) / d.strideWidth + 1
    guard mul(d.batch, d.inputChannels, d.inputHeight, d.inputWidth) != nil,
          let out = mul(d.batch, d.outputChannels, oh, ow), mul(out, 4) != nil,
          mul(d.outputChannels, d.inputChannels / d.groups, d.kernelHeight, d.kernelWidth) != nil,
          mul(out, d.inputChannels / d.groups, d.kernelHeight, d.kernelWidth, 2) != nil else { return false }
    return true
}
