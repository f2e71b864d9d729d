import CKernels
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
        let f = ck_cpu_features()
        func has(_ bit: UInt32) -> Bool { f & bit != 0 }
        return CPUFeatures(
            sse2: has(1 << 0), avx: has(1 << 1), avx2: has(1 << 2),
            fma: has(1 << 3), f16c: has(1 << 4), avx512f: has(1 << 5))
    }()

    /// Names of the detected features, for display.
    public var names: [String] {
        [("SSE2", sse2), ("AVX", avx), ("AVX2", avx2), ("FMA", fma), ("F16C", f16c), ("AVX-512F", avx512f)]
            .filter(\.1).map(\.0)
    }

    public var description: String { names.isEmpty ? "none detected" : names.joined(separator: " ") }
}

/// The instruction set the native backends' micro-kernels use.
public enum KernelISA: String, Sendable, CaseIterable {
    /// C micro-kernels compiled with `target("avx2,fma")`.
    case avx2fma = "avx2+fma"
    /// Portable Swift SIMD code that runs on any CPU.
    case portable

    /// The ISA chosen once per process: AVX2+FMA when the CPU has both, else portable.
    /// Setting the environment variable `CONVKIT_ISA=portable` forces the portable path
    /// (`CONVKIT_ISA=avx2` asks for the default; other values are reported by
    /// ``ConvKit/environmentProblems`` and ignored).
    public static let selected: KernelISA = {
        if ProcessInfo.processInfo.environment["CONVKIT_ISA"] == "portable" { return .portable }
        return best
    }()

    /// The values `CONVKIT_ISA` accepts.
    public static let environmentValues = ["avx2", "portable"]

    /// The best ISA this CPU supports.
    public static var best: KernelISA {
        CPUFeatures.current.avx2 && CPUFeatures.current.fma ? .avx2fma : .portable
    }
}

extension CPUFeatures {
    /// Measures this CPU's single-thread f32 FMA peak in GFLOP/s (12 independent chains of
    /// 8-lane FMAs, the best of a few short runs), or `nil` without AVX2+FMA.
    ///
    /// This is the ceiling of ConvKit's AVX2+FMA micro-kernels; a library using wider vectors
    /// on a CPU with 512-bit FMA units can exceed it. Takes about `seconds` seconds.
    public static func measureFMAPeakGFLOPs(seconds: Double = 0.1) -> Double? {
        guard current.avx2 && current.fma else { return nil }
        let iterations = 1 << 16
        var best = 0.0
        var sink: Float = 0
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(seconds * 1e9)
        repeat {
            let t0 = DispatchTime.now().uptimeNanoseconds
            sink += ck_f32_fma_peak_probe__avx2_fma(iterations)
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            best = Swift.max(best, Double(iterations) * 192 / dt / 1e9)
        } while DispatchTime.now().uptimeNanoseconds < deadline
        return sink.isNaN ? nil : best
    }
}
