import Dispatch

/// The one place where ConvKit fans work out to threads.
///
/// `tasks` independent tasks are split into `threads` contiguous ranges run with
/// `DispatchQueue.concurrentPerform`. Tasks must write disjoint memory, so results
/// never depend on the split. `worker` (in `0..<min(threads, tasks)`) indexes per-worker
/// scratch memory. With one thread (or one task) the body runs inline,
/// with no dispatch overhead.
enum ParallelFor {
    /// The number of workers ``run(tasks:threads:_:)`` uses.
    static func workers(tasks: Int, threads: Int) -> Int { Swift.max(Swift.min(Swift.max(threads, 1), tasks), 1) }

    static func run(tasks: Int, threads: Int, _ body: (_ worker: Int, _ tasks: Range<Int>) -> Void) {
        if tasks <= 0 { return }
        let workers = Swift.min(Swift.max(threads, 1), tasks)
        if workers == 1 {
            body(0, 0..<tasks)
            return
        }
        withoutActuallyEscaping(body) { body in
            let shared = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: workers) { t in
                let lo = tasks * t / workers
                let hi = tasks * (t + 1) / workers
                if lo < hi { shared.value(t, lo..<hi) }
            }
        }
    }
}

/// Wraps a value that is shared across the workers of one ``ParallelFor`` call, which
/// only read it or write disjoint memory through it.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
