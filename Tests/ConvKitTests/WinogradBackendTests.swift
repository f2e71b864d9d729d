import ConvKit
import Testing

@Suite("winograd backend against the float64 reference")
struct WinogradBackendTests {
    static let isas: [KernelISA] = [KernelISA.avx512f, .avx2fma, .portable].filter(KernelISA.isSupported)
    static func bound(_ tile: WinogradTile) -> Double {
        switch tile {
        case .f2x3: return 1e-5
        case .f4x3: return 1e-4
        case .f6x3: return 1e-3
        }
    }

    @Test("tile-edge output sizes, paddings, channels", arguments: WinogradTile.allCases)
    func tileEdges(_ tile: WinogradTile) throws {
        var i: UInt64 = 0
        for out in [1, 2, 3, 5, 7, 13] {
            for (pad, c, k) in [(0, 1, 3), (1, 3, 8), (2, 8, 1), (1, 17, 17)] {
                let size = out + 2 - 2 * pad
                if size < 1 { continue }
                let d = Conv2DDescriptor(batch: 1 + Int(i % 2), channels: c, height: size, width: out + 2 - 2 * pad + 1,
                                         filters: k, size: 3, pad: pad, activation: i % 3 == 0 ? .relu : .none)
                i += 1
                guard (try? d.validate()) != nil else { continue }
                let cc = ConvCase(d, seed: i)
                let ref = try cc.reference()
                for isa in Self.isas {
                    let y = try cc.run(WinogradBackend(tile: tile, isa: isa), threads: 2)
                    let err = normalizedMaxError(y, ref)
                    #expect(err <= Self.bound(tile), "\(tile) \(d) [\(isa)]: error \(err)")
                }
            }
        }
    }

    @Test("asymmetric padding, batch, bias and clamp", arguments: WinogradTile.allCases)
    func asymmetric(_ tile: WinogradTile) throws {
        let d = Conv2DDescriptor(batch: 3, inputChannels: 5, inputHeight: 11, inputWidth: 9, outputChannels: 7,
                                 kernelHeight: 3, kernelWidth: 3, padding: Padding(top: 2, left: 0, bottom: 1, right: 2),
                                 hasBias: true, activation: .relu6)
        let cc = ConvCase(d, seed: 11)
        let ref = try cc.reference()
        for isa in Self.isas {
            let err = normalizedMaxError(try cc.run(WinogradBackend(tile: tile, isa: isa)), ref)
            #expect(err <= Self.bound(tile), "\(tile) [\(isa)]: error \(err)")
        }
    }

    @Test("64 channels, many tile blocks, no bias", arguments: WinogradTile.allCases)
    func larger(_ tile: WinogradTile) throws {
        let d = Conv2DDescriptor(batch: 2, channels: 64, height: 30, width: 30, filters: 64, size: 3, pad: 1,
                                 hasBias: false)
        let cc = ConvCase(d, seed: 12)
        let ref = try cc.reference()
        let err = normalizedMaxError(try cc.run(WinogradBackend(tile: tile)), ref)
        #expect(err <= Self.bound(tile), "\(tile): error \(err)")
    }

    @Test("threads 1, 2 and 5 give identical bits", arguments: WinogradTile.allCases)
    func threadsBitIdentical(_ tile: WinogradTile) throws {
        ConvKit.minimumFLOPsPerThread = 0   // use every thread even on these small layers
        for d in [Conv2DDescriptor(batch: 2, channels: 20, height: 33, width: 31, filters: 30, size: 3, pad: 1),
                  Conv2DDescriptor(channels: 40, height: 7, width: 7, filters: 50, size: 3, pad: 1)] {
            let cc = ConvCase(d, seed: 13)
            let one = try cc.run(WinogradBackend(tile: tile), threads: 1)
            for t in [2, 5] {
                #expect(try cc.run(WinogradBackend(tile: tile), threads: t) == one, "\(tile) \(d) threads \(t)")
            }
        }
    }

    @Test("transformed weights beyond half the L3: phase-split threads give identical bits")
    func weightsBoundThreads() throws {
        ConvKit.minimumFLOPsPerThread = 0
        // F(4x4): 36 x 384 x 384 floats = 21 MB of transformed weights, 9 tiles per image.
        let d = Conv2DDescriptor(batch: 2, channels: 384, height: 12, width: 11, filters: 384, size: 3, pad: 1)
        let cc = ConvCase(d, seed: 14)
        let one = try cc.run(WinogradBackend(tile: .f4x3), threads: 1)
        #expect(normalizedMaxError(one, try cc.reference()) <= Self.bound(.f4x3))
        for t in [2, 5] {
            #expect(try cc.run(WinogradBackend(tile: .f4x3), threads: t) == one, "threads \(t)")
        }
    }

    @Test("unsupported descriptors say why")
    func unsupported() throws {
        let b = WinogradBackend()
        let cases: [(Conv2DDescriptor, String)] = [
            (.init(channels: 4, height: 8, width: 8, filters: 4, size: 5), "3x3"),
            (.init(channels: 4, height: 8, width: 8, filters: 4, size: 3, stride: 2), "stride"),
            (.init(channels: 4, height: 8, width: 8, filters: 4, size: 3, dilation: 2), "dilation"),
            (.init(channels: 4, height: 8, width: 8, filters: 4, size: 3, groups: 2), "groups"),
        ]
        for (d, word) in cases {
            guard case let .unsupported(reason) = b.support(for: d) else {
                Issue.record("\(d) should be unsupported"); continue
            }
            #expect(reason.contains(word))
            let cc = ConvCase(d)
            #expect(throws: ConvError.self) { try cc.run(b) }
            // auto falls back to a backend that supports it.
            let auto = try BackendRegistry.shared.backend(named: "auto")
            #expect(normalizedMaxError(try cc.run(auto), try cc.reference()) <= 1e-5)
        }
    }
}

@Suite("winograd F(4x4) fast gather")
struct WinogradGatherTests {
    /// Groups of 8 tiles that straddle tile rows and images (tilesX 9, 11, 12, 8).
    @Test("tiles straddling rows and images", arguments: [33, 41, 46, 30])
    func straddlingGroups(side: Int) throws {
        let d = Conv2DDescriptor(batch: 3, channels: 5, height: side, width: side + 1, filters: 7, size: 3, pad: 1)
        let c = ConvCase(d, seed: UInt64(side))
        let ref = try c.reference()
        for threads in [1, 2] {
            let y = try c.run(WinogradBackend(tile: .f4x3), threads: threads)
            #expect(normalizedMaxError(y, ref) <= 1e-4, "side \(side), threads \(threads)")
        }
    }
}
