import Foundation

/// Library-wide settings and facts.
public enum ConvKit {
    /// The library version.
    public static let version = "0.1.0"

    /// The thread count used when an execute call passes `nil`: the environment variable
    /// `CONVKIT_NUM_THREADS` when set to a positive integer, else the number of active cores.
    public static var defaultThreadCount: Int {
        if let s = ProcessInfo.processInfo.environment["CONVKIT_NUM_THREADS"], let n = Int(s), n > 0 {
            return n
        }
        return Swift.max(ProcessInfo.processInfo.activeProcessorCount, 1)
    }
}
