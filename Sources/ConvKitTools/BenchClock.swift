import Dispatch

/// The benchmark's monotonic clock: `DispatchTime.now()` (CLOCK_MONOTONIC on Linux,
/// `mach_absolute_time` on Darwin), in nanoseconds. Never goes backwards, unaffected by
/// wall-clock changes.
public enum BenchClock {
    /// The current monotonic time in nanoseconds since an arbitrary origin.
    @inline(__always)
    public static func nowNanoseconds() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// Seconds taken by `body`, and its result.
    @inline(__always)
    public static func measure<R>(_ body: () throws -> R) rethrows -> (seconds: Double, result: R) {
        let start = nowNanoseconds()
        let result = try body()
        let end = nowNanoseconds()
        return (Double(end &- start) * 1e-9, result)
    }
}
