import ConvKit
import Testing

@Suite("direct backend against the float64 reference")
struct DirectBackendTests {
    static let isas: [KernelISA] = KernelISA.best == .avx2fma ? [.avx2fma, .portable] : [.portable]

    @Test("named edge cases", arguments: EdgeCases.all.map(\.0))
    func edgeCase(_ name: String) throws {
        let d = try #require(EdgeCases.all.first { $0.0 == name }?.1)
        let c = ConvCase(d, seed: 7)
        let ref = try c.reference()
        for isa in Self.isas {
            let y = try c.run(DirectBackend(isa: isa), threads: 2)
            let err = normalizedMaxError(y, ref)
            #expect(err <= 1e-5, "\(name) [\(isa)]: normalized max error \(err)")
        }
    }

    @Test("random descriptors (seeded)")
    func randomDescriptors() throws {
        var rng = TestRandom(seed: 20261125)
        for i in 0..<300 {
            let d = randomDescriptor(using: &rng)
            let c = ConvCase(d, seed: UInt64(i))
            let ref = try c.reference()
            for isa in Self.isas {
                let y = try c.run(DirectBackend(isa: isa), threads: 1 + i % 3)
                let err = normalizedMaxError(y, ref)
                #expect(err <= 1e-5, "case \(i) \(d) [\(isa)]: error \(err)")
            }
        }
    }

    @Test("threads 1, 2 and 5 give identical bits")
    func threadCountsBitIdentical() throws {
        ConvKit.minimumFLOPsPerThread = 0   // use every thread even on these small layers
        let descriptors: [Conv2DDescriptor] = [
            .init(batch: 2, channels: 24, height: 30, width: 30, filters: 40, size: 3, pad: 1),
            .init(channels: 64, height: 7, width: 7, filters: 50, size: 3, pad: 1),
            .init(channels: 12, height: 33, width: 33, filters: 12, size: 3, pad: 1, groups: 12),
        ]
        for d in descriptors {
            let c = ConvCase(d, seed: 3)
            for isa in Self.isas {
                let one = try c.run(DirectBackend(isa: isa), threads: 1)
                for t in [2, 5] {
                    let other = try c.run(DirectBackend(isa: isa), threads: t)
                    #expect(one == other, "\(d) [\(isa)] threads \(t) differs from 1 thread")
                }
            }
        }
    }

    @Test("portable and AVX2 paths agree", .enabled(if: KernelISA.best == .avx2fma, "CPU lacks AVX2+FMA"))
    func portableMatchesAVX2() throws {
        let c = ConvCase(.init(batch: 2, channels: 13, height: 29, width: 29, filters: 24, size: 3, pad: 1), seed: 5)
        let a = try c.run(DirectBackend(isa: .avx2fma))
        let p = try c.run(DirectBackend(isa: .portable))
        #expect(normalizedMaxError(p, a) <= 1e-6)
    }

    @Test("NaN and infinity propagate")
    func nonFinitePropagates() throws {
        let d = Conv2DDescriptor(channels: 2, height: 6, width: 6, filters: 3, size: 3, pad: 1, activation: .relu)
        var c = ConvCase(d, seed: 9)
        var x = c.input
        x[7] = .nan
        x[30] = .infinity
        c = ConvCase(descriptor: d, input: x, weights: c.weights, bias: c.bias)
        let ref = try c.reference()
        for isa in Self.isas {
            let y = try c.run(DirectBackend(isa: isa))
            #expect(y.indices.allSatisfy { y[$0].isNaN == ref[$0].isNaN }, "NaN pattern differs [\(isa)]")
            #expect(normalizedMaxError(y, ref) <= 1e-5)
        }
    }
}

extension ConvCase {
    init(descriptor: Conv2DDescriptor, input: [Float], weights: [Float], bias: [Float]?) {
        self.descriptor = descriptor
        self.input = input
        self.weights = weights
        self.bias = bias
    }
}
