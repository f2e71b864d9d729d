import Dispatch

/// The one place where ConvKit fans work out to threads.
///
/// `tasks` independent tasks are run by `min(threads, tasks)` workers; each worker takes the
/// next task from a shared counter until none is left, so uneven tasks balance themselves.
/// Inside a ``WorkerTeam`` region (a model run, a convolution's execute) the workers are the
/// team's members and the call is one phase of the region; elsewhere it is one
/// `DispatchQueue.concurrentPerform` call. Tasks must write disjoint memory
/// and each task's result must not depend on which worker runs it, so results never depend
/// on the thread count or the schedule. With one worker the body runs inline, in task
/// order, with no dispatch overhead.
enum ParallelFor {
    /// The number of workers ``run(tasks:threads:_:)`` uses.
    static func workers(tasks: Int, threads: Int) -> Int { Swift.max(Swift.min(Swift.max(threads, 1), tasks), 1) }

    /// Runs `body(worker, task)` for every task in `0..<tasks`. `worker` (in
    /// `0..<workers(tasks:threads:)`) indexes per-worker scratch memory; a worker runs one task
    /// at a time.
    static func run(tasks: Int, threads: Int, _ body: (_ worker: Int, _ task: Int) -> Void) {
        if tasks <= 0 { return }
        let workers = workers(tasks: tasks, threads: threads)
        if workers == 1 {
            for task in 0..<tasks { body(0, task) }
            return
        }
        switch WorkerTeam.placement {
        case .inline:
            for task in 0..<tasks { body(0, task) }
            return
        case let .team(team) where tasks <= WorkerTeam.maximumTasks:
            team.runPhase(tasks: tasks, workers: workers, body)
            return
        case .team, .outside:
            break
        }
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 1) { counter in
            counter[0] = 0
            let next = UncheckedSendable(counter.baseAddress!)
            withoutActuallyEscaping(body) { body in
                let shared = UncheckedSendable(body)
                DispatchQueue.concurrentPerform(iterations: workers) { worker in
                    while true {
                        let task = KernelBindings.atomicFetchIncrement(next.value)
                        if task >= tasks { break }
                        shared.value(worker, task)
                    }
                }
            }
        }
    }

    /// Runs `body(worker, range)` over `0..<items` split into contiguous chunks (about four
    /// per worker, balanced dynamically), for many small items such as rows or planes.
    static func run(items: Int, threads: Int, _ body: (_ worker: Int, _ range: Range<Int>) -> Void) {
        if items <= 0 { return }
        let chunks = Swift.min(items, 4 * workers(tasks: items, threads: threads))
        run(tasks: chunks, threads: threads) { worker, chunk in
            body(worker, (items * chunk / chunks)..<(items * (chunk + 1) / chunks))
        }
    }
}

/// Wraps a value that is shared across the workers of one ``ParallelFor`` call, which
/// only read it or write disjoint memory through it.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
