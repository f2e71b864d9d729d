import Foundation
import Synchronization

/// Library-wide settings and facts.
public enum ConvKit {
    /// The library version.
    public static let version = "0.1.0"

    /// The thread count used when an execute call passes `nil`: the environment variable
    /// `CONVKIT_NUM_THREADS` when set to a positive integer, else the number of active cores.
    ///
    /// Both are read once per process, at first use (as OpenMP reads `OMP_NUM_THREADS`):
    /// Foundation's core count reads the cgroup files on Linux (measured 20 us a call here), too
    /// slow for every execute call.
    public static var defaultThreadCount: Int { defaultThreads }

    private static let defaultThreads: Int = {
        if let s = ProcessInfo.processInfo.environment["CONVKIT_NUM_THREADS"], let n = Int(s), n > 0 {
            return n
        }
        return activeCores
    }()

    /// The number of active cores (`ProcessInfo.activeProcessorCount`, which honours the
    /// cgroup's CPU set and quota), read once per process at first use.
    static let activeCores: Int = Swift.max(ProcessInfo.processInfo.activeProcessorCount, 1)

    /// Problems with ConvKit's environment variables, one message each (empty when all are
    /// valid or unset). An invalid value is ignored by the library (the default applies); a
    /// program should report these messages rather than run silently on the default:
    /// - `CONVKIT_NUM_THREADS` must be a positive integer;
    /// - `CONVKIT_ISA` must be `avx512` (the default on a CPU with AVX-512F), `avx2` (the AVX2+FMA
    ///   kernels only; the default on a CPU with AVX2 and FMA but no AVX-512F) or `portable`.
    public static var environmentProblems: [String] {
        let env = ProcessInfo.processInfo.environment
        var problems: [String] = []
        if let s = env["CONVKIT_NUM_THREADS"], !(Int(s).map { $0 > 0 } ?? false) {
            problems.append("CONVKIT_NUM_THREADS='\(s)' is not a positive integer")
        }
        if let s = env["CONVKIT_ISA"] {
            if !KernelISA.environmentValues.contains(s) {
                problems.append("CONVKIT_ISA='\(s)' is not one of \(KernelISA.environmentValues.joined(separator: ", "))")
            } else if s != "portable" && KernelISA.best == .portable {
                problems.append("CONVKIT_ISA='\(s)': this CPU lacks AVX2+FMA; the portable path runs")
            } else if s == "avx512" && KernelISA.best != .avx512f {
                problems.append("CONVKIT_ISA='avx512': this CPU lacks AVX-512F; the AVX2+FMA kernels run")
            }
        }
        return problems
    }

    /// The largest thread count an execute call uses (larger requests are capped to it).
    public static let maximumThreadCount = 1024

    /// The least work, in FLOPs, worth giving a worker thread (default 2,000,000, some tens of
    /// microseconds): an execute call uses at most `flops / minimumFLOPsPerThread` of the threads
    /// it is given, because waking a thread costs more than a smaller share of work saves.
    /// Set it to 0 to always use every thread requested. Results do not depend on it.
    public static var minimumFLOPsPerThread: Int {
        get { minimumFLOPsPerThreadStorage.load(ordering: .relaxed) }
        set { minimumFLOPsPerThreadStorage.store(Swift.max(newValue, 0), ordering: .relaxed) }
    }
    private static let minimumFLOPsPerThreadStorage = Atomic<Int>(2_000_000)
}

/// Counters for tests and diagnostics; not part of the stable API.
@_spi(Testing)
public enum ConvKitDiagnostics {
    /// The number of ConvKit-owned aligned buffers alive now (tensor storage, packed weights,
    /// pooled workspaces). A prepare/execute/release cycle must bring it back where it was.
    public static var liveBuffers: Int { AlignedBuffer.live.load(ordering: .relaxed) }
}
