import Foundation

/// The instruction sets ConvKit detected on this CPU, and the kernel ISA it uses.
public struct CPUFeatures: Sendable, CustomStringConvertible {
    public let sse2: Bool
    public let avx: Bool
    public let avx2: Bool
    public let fma: Bool
    public let f16c: Bool
    public let avx512f: Bool

    /// The features of the running CPU.
    public static let current: CPUFeatures = {
        let f = KernelBindings.cpuFeatures()
        func has(_ bit: UInt32) -> Bool { f & bit != 0 }
        return CPUFeatures(
            sse2: has(1 << 0), avx: has(1 << 1), avx2: has(KernelBindings.cpuAVX2),
            fma: has(KernelBindings.cpuFMA), f16c: has(1 << 4), avx512f: has(KernelBindings.cpuAVX512F))
    }()

    /// Names of the detected features, for display.
    public var names: [String] {
        [("SSE2", sse2), ("AVX", avx), ("AVX2", avx2), ("FMA", fma), ("F16C", f16c), ("AVX-512F", avx512f)]
            .filter(\.1).map(\.0)
    }

    public var description: String { names.isEmpty ? "none detected" : names.joined(separator: " ") }
}

/// The instruction set the native backends' micro-kernels use.
///
/// The ISAs form a ladder: `avx512f` runs the AVX-512 micro-kernels where ConvKit has them and
/// the AVX2+FMA ones everywhere else (an AVX-512F CPU has AVX2 and FMA), `avx2fma` runs only
/// AVX2+FMA kernels, `portable` only Swift SIMD code. A backend built for an ISA the CPU
/// lacks reports itself unavailable.
public enum KernelISA: String, Sendable, CaseIterable {
    /// AVX-512F micro-kernels (`target("avx512f")`, chosen at run time) where they exist,
    /// AVX2+FMA kernels for the rest. Today: the pointwise (1x1, stride 1) GEMM.
    case avx512f = "avx512f"
    /// C micro-kernels compiled with `target("avx2,fma")`.
    case avx2fma = "avx2+fma"
    /// Portable Swift SIMD code that runs on any CPU.
    case portable

    /// Whether this ISA runs the AVX2+FMA C kernels (true for `avx2fma` and `avx512f`).
    public var hasAVX2FMA: Bool { self != .portable }

    /// The ISA chosen once per process: the best this CPU supports. The environment variable
    /// `CONVKIT_ISA` forces a lower one: `avx2` (AVX2+FMA kernels only) or `portable`
    /// (`avx512` asks for the default; other values are reported by
    /// ``ConvKit/environmentProblems`` and ignored). A value above what the CPU has runs the best
    /// it has.
    public static let selected: KernelISA = {
        switch ProcessInfo.processInfo.environment["CONVKIT_ISA"] {
        case "portable": return .portable
        case "avx2": return best == .portable ? .portable : .avx2fma
        default: return best
        }
    }()

    /// The values `CONVKIT_ISA` accepts.
    public static let environmentValues = ["avx512", "avx2", "portable"]

    /// The best ISA this CPU supports.
    public static var best: KernelISA {
        let f = CPUFeatures.current
        guard f.avx2 && f.fma else { return .portable }
        return f.avx512f ? .avx512f : .avx2fma
    }

    /// Whether this CPU can run kernels of `isa`.
    public static func isSupported(_ isa: KernelISA) -> Bool {
        switch isa {
        case .portable: return true
        case .avx2fma: return best != .portable
        case .avx512f: return best == .avx512f
        }
    }
}

extension CPUFeatures {
    /// Measures this CPU's single-thread f32 FMA peak in GFLOP/s for the vectors of `isa`
    /// (default: ``KernelISA/selected``): 12 independent chains of 8-lane FMAs for
    /// ``KernelISA/avx2fma``, of 16-lane FMAs for ``KernelISA/avx512f``, the best of a few short
    /// runs; `nil` for the portable ISA or an ISA this CPU lacks.
    ///
    /// This is the ceiling of ConvKit's micro-kernels of that ISA: on CPUs with 512-bit FMA
    /// pipes (Intel server parts, AMD Zen 5) the AVX-512F figure is twice the AVX2 one, on AMD
    /// Zen 4 the same. Takes about `seconds` seconds.
    public static func measureFMAPeakGFLOPs(seconds: Double = 0.1, isa: KernelISA = .selected) -> Double? {
        guard isa != .portable && KernelISA.isSupported(isa) else { return nil }
        let wide = isa == .avx512f
        let iterations = 1 << 16
        let flopsPerIteration = Double(12 * 2 * (wide ? 16 : 8))
        var best = 0.0
        var sink: Float = 0
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(seconds * 1e9)
        repeat {
            let t0 = DispatchTime.now().uptimeNanoseconds
            sink += wide ? KernelBindings.fmaPeakProbeAVX512(iterations: iterations)
                : KernelBindings.fmaPeakProbe(iterations: iterations)
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            best = Swift.max(best, Double(iterations) * flopsPerIteration / dt / 1e9)
        } while DispatchTime.now().uptimeNanoseconds < deadline
        return sink.isNaN ? nil : best
    }
}
