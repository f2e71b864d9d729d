/// The 6x16 f32 GEMM micro-kernel of an ISA's ``KernelTable``.
///
/// Computes one `MR x NR` (6 x 16) tile of `C (+)= A * B` from packed panels; see
/// `ck_kernels.h` for the exact contract. The table's `gemm` entry runs it (the C kernel
/// `ck_f32_gemm_ukernel_6x16__avx2_fma` on AVX2+FMA and AVX-512F, whose table adds the 6x32
/// pair kernel used by `pair`); the portable table has none, and the same computation runs
/// with Swift SIMD types (multiply then add, no FMA).
struct GEMMMicroKernel: Sendable {
    static let mr = KernelFlags.gemmMR
    static let nr = KernelFlags.gemmNR

    let kernels: KernelTable
    var isa: KernelISA { kernels.isa }

    init(isa: KernelISA) { kernels = KernelTable.of(isa) }

    /// Flags of one call.
    struct Flags: OptionSet, Sendable {
        let rawValue: UInt32
        /// Add to C instead of overwriting it.
        static let accumulate = Flags(rawValue: KernelFlags.gemmAccumulate)
        /// Clamp to `[lo, hi]` before storing.
        static let clamp = Flags(rawValue: KernelFlags.clamp)
    }

    @inline(__always)
    func callAsFunction(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>,
                        ldc: Int, mr: Int, nr: Int, flags: Flags, bias: UnsafePointer<Float>?,
                        lo: Float, hi: Float) {
        if let gemm = kernels.gemm {
            gemm(kc, a, b, c, ldc, mr, nr, flags.rawValue, bias, lo, hi)
        } else {
            portableGEMM6x16(kc: kc, a: a, b: b, c: c, ldc: ldc, mr: mr, nr: nr, flags: flags, bias: bias,
                             lo: lo, hi: hi)
        }
    }
}

extension GEMMMicroKernel {
    /// Whether ``pair(kc:a:b:bPanelStride:c:ldc:mr:nr:flags:bias:lo:hi)`` runs a 6x32 kernel
    /// (the table has one: ``KernelISA/avx512f``); otherwise it is two 6x16 calls.
    var hasPairKernel: Bool { kernels.gemmPair != nil }

    /// Whether ``rowPair(kc:a:aPanelStride:b:c:ldc:mr:nr:flags:bias:lo:hi)`` runs a 12x16 kernel
    /// (the table has one: ``KernelISA/avx512f``); otherwise it is two 6x16 calls.
    var hasRowPairKernel: Bool { kernels.gemmRowPair != nil }

    /// Two 6x16 tiles one above the other in one call: rows `0 ..< min(mr, 6)` from the A panel
    /// at `a`, rows `6 ..< mr` from the one at `a + aPanelStride` (`1 <= mr <= 12`), stored to
    /// rows `c + i * ldc`. The sums are the 6x16 kernel's, bit for bit.
    @inline(__always)
    func rowPair(kc: Int, a: UnsafePointer<Float>, aPanelStride: Int, b: UnsafePointer<Float>,
                 c: UnsafeMutablePointer<Float>, ldc: Int, mr: Int, nr: Int, flags: Flags,
                 bias: UnsafePointer<Float>?, lo: Float, hi: Float) {
        if let rowPair = kernels.gemmRowPair {
            rowPair(kc, a, aPanelStride, b, c, ldc, mr, nr, flags.rawValue, bias, lo, hi)
            return
        }
        let m0 = Swift.min(mr, Self.mr)
        self(kc: kc, a: a, b: b, c: c, ldc: ldc, mr: m0, nr: nr, flags: flags, bias: bias, lo: lo, hi: hi)
        if mr > Self.mr {
            self(kc: kc, a: a + aPanelStride, b: b, c: c + Self.mr * ldc, ldc: ldc, mr: mr - Self.mr, nr: nr,
                 flags: flags, bias: bias.map { $0 + Self.mr }, lo: lo, hi: hi)
        }
    }

    /// Two neighbouring 6x16 tiles in one call: columns `0 ..< min(nr, 16)` from the B panel at
    /// `b`, columns `16 ..< nr` from the one at `b + bPanelStride` (`1 <= nr <= 32`), stored to
    /// `c[0 ..< nr]` per row. The sums are the 6x16 kernel's, bit for bit.
    @inline(__always)
    func pair(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, bPanelStride: Int,
              c: UnsafeMutablePointer<Float>, ldc: Int, mr: Int, nr: Int, flags: Flags, bias: UnsafePointer<Float>?,
              lo: Float, hi: Float) {
        if let pair = kernels.gemmPair {
            pair(kc, a, b, bPanelStride, c, ldc, mr, nr, flags.rawValue, bias, lo, hi)
            return
        }
        let n0 = Swift.min(nr, Self.nr)
        self(kc: kc, a: a, b: b, c: c, ldc: ldc, mr: mr, nr: n0, flags: flags, bias: bias, lo: lo, hi: hi)
        if nr > Self.nr {
            self(kc: kc, a: a, b: b + bPanelStride, c: c + Self.nr, ldc: ldc, mr: mr, nr: nr - Self.nr, flags: flags,
                 bias: bias, lo: lo, hi: hi)
        }
    }
}

/// The portable 6x16 kernel: 12 `SIMD8<Float>` accumulators, `a * b + c` (never
/// `addProduct`, which is a libm call per lane without an FMA target).
@inline(never)
func portableGEMM6x16(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>,
                      ldc: Int, mr: Int, nr: Int, flags: GEMMMicroKernel.Flags, bias: UnsafePointer<Float>?,
                      lo: Float, hi: Float) {
    typealias V = SIMD8<Float>
    var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V()
    var c30 = V(), c31 = V(), c40 = V(), c41 = V(), c50 = V(), c51 = V()
    var ap = a, bp = UnsafeRawPointer(b)
    for _ in 0..<kc {
        let b0 = bp.loadUnaligned(as: V.self)
        let b1 = bp.loadUnaligned(fromByteOffset: 32, as: V.self)
        var av = V(repeating: ap[0]); c00 = av * b0 + c00; c01 = av * b1 + c01
        av = V(repeating: ap[1]); c10 = av * b0 + c10; c11 = av * b1 + c11
        av = V(repeating: ap[2]); c20 = av * b0 + c20; c21 = av * b1 + c21
        av = V(repeating: ap[3]); c30 = av * b0 + c30; c31 = av * b1 + c31
        av = V(repeating: ap[4]); c40 = av * b0 + c40; c41 = av * b1 + c41
        av = V(repeating: ap[5]); c50 = av * b0 + c50; c51 = av * b1 + c51
        ap += 6
        bp += 64
    }
    withUnsafeTemporaryAllocation(of: V.self, capacity: 12) { t in
        t[0] = c00; t[1] = c01; t[2] = c10; t[3] = c11; t[4] = c20; t[5] = c21
        t[6] = c30; t[7] = c31; t[8] = c40; t[9] = c41; t[10] = c50; t[11] = c51
        let lanes = UnsafeRawPointer(t.baseAddress!).assumingMemoryBound(to: Float.self)
        for i in 0..<mr {
            let row = c + i * ldc
            for j in 0..<nr {
                var v = lanes[i * 16 + j]
                if flags.contains(.accumulate) {
                    v = row[j] + v
                } else if let bias {
                    v = bias[i] + v
                }
                if flags.contains(.clamp), !v.isNaN { v = Swift.min(Swift.max(v, lo), hi) }
                row[j] = v
            }
        }
    }
}
