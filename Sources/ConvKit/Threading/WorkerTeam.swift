import Dispatch
import Foundation

/// The workers of one parallel region: a model run (or one convolution's execute) fans out
/// once, and every ``ParallelFor`` call inside it becomes a phase of that one team instead of a
/// new `concurrentPerform`.
///
/// How a region runs:
/// - `DispatchQueue.concurrentPerform(iterations: size)` starts the members. The member on the
///   calling thread becomes the leader and runs the region's code (the graph, node after node);
///   the others are helpers.
/// - A ``ParallelFor`` call on the leader publishes a phase: its tasks, and how many members may
///   take them (the call's own worker count, so per-worker scratch indices stay in range). The
///   leader and the helpers claim tasks from one counter; the leader then waits for the tasks
///   other members claimed and are still running, and goes on with the region.
/// - Between phases the helpers spin for ``spinNanoseconds``, then block on a futex until the
///   next phase or the end of the region.
///
/// Why it cannot deadlock: `concurrentPerform` does not promise that its iterations run at the
/// same time, nor that the calling thread runs one. Nothing here waits without bound for a
/// member that has not started: a helper waits at most ``spinNanoseconds`` for the leader to
/// start and otherwise leaves; once the leader runs, helpers wait only for it, and the leader
/// waits only for tasks that running members have claimed. A leader alone claims every task
/// itself. When the iterations run one after another, the caller's runs the whole region and
/// the others find it finished (or no leader) and leave; when the caller runs none, it runs the
/// region's code alone after `concurrentPerform` returns.
///
/// Results: tasks are the same, and computed the same way, whichever member runs them, so a
/// region's results are bit-identical to running its code on one thread.
///
/// Nesting: a ``ParallelFor`` call made inside a task (on the leader or a helper) runs its tasks
/// inline on that thread; a region started inside a region is the enclosing region.
final class WorkerTeam: @unchecked Sendable {
    /// How long an idle helper spins before it blocks (nanoseconds): long enough to bridge the
    /// serial code between the phases of a model run (a small node, the next node's set-up),
    /// short enough that an idle team gives its cores back quickly.
    static let spinNanoseconds: Int64 = 200_000

    /// False when the environment sets `CONVKIT_WORKER_TEAMS=0`: every ``ParallelFor`` call then
    /// fans out on its own, as before regions existed (a diagnostic switch; results are the same).
    static let enabled = ProcessInfo.processInfo.environment["CONVKIT_WORKER_TEAMS"] != "0"

    /// The largest team (the claim word holds 12 bits of member count).
    static let maximumSize = 4095

    private let raw: OpaquePointer

    init?(spinNanoseconds: Int64 = WorkerTeam.spinNanoseconds) {
        guard let t = KernelBindings.teamCreate(spinNanoseconds: spinNanoseconds) else { return nil }
        raw = t
    }

    deinit { KernelBindings.teamDestroy(raw) }

    /// The body of the phase being run, read by members through an opaque pointer.
    private struct Phase {
        let body: (_ worker: Int, _ task: Int) -> Void
    }

    /// The marker a thread holds while it runs a task: nested fan-outs run inline.
    private static var insideTask: UnsafeMutableRawPointer { UnsafeMutableRawPointer(bitPattern: 1)! }

    private var marker: UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }

    // MARK: Regions

    /// Runs `body` as one parallel region of up to `threads` members (capped to the active
    /// cores, so spinning helpers never compete with each other for a core). With one member, or
    /// when the calling thread is already inside a region, `body` runs directly.
    static func region<R, E: Error>(threads: Int, _ body: () throws(E) -> R) throws(E) -> R {
        let size = Swift.min(threads, ConvKit.activeCores, maximumSize)
        if size <= 1 || KernelBindings.threadTeam() != nil || !enabled { return try body() }
        guard let team = pool.take() else { return try body() }
        defer { pool.give(team) }
        return try team.run(size: size, body)
    }

    /// Starts `count` members (tests start them one after another, or on threads of their own
    /// with delays, to check that no schedule deadlocks).
    typealias Launcher = (_ count: Int, _ member: (Int) -> Void) -> Void

    /// Runs `body` as a region of `size` members started by one `concurrentPerform` call (its
    /// iterations may run at the same time or one after another), or by `launch`.
    func run<R, E: Error>(size: Int, launch: Launcher? = nil, _ body: () throws(E) -> R) throws(E) -> R {
        KernelBindings.teamReset(raw)
        let result = ResultBox<R, E>()
        // The calling thread is the only one that may lead: the graph runs on the caller's
        // thread, as it would without a region (its thread-local state, its priority, and the
        // OpenMP master thread of oneDNN nodes stay the caller's).
        KernelBindings.setThreadTeam(candidate)
        withoutActuallyEscaping(body) { body in
            let shared = UncheckedSendable(body)
            let member = UncheckedSendable<(Int) -> Void> { [self] _ in
                if KernelBindings.threadTeam() == candidate && KernelBindings.teamTakeLead(raw) {
                    KernelBindings.setThreadTeam(marker)
                    do throws(E) { result.value = .success(try shared.value()) } catch { result.value = .failure(error) }
                    KernelBindings.setThreadTeam(candidate)
                    KernelBindings.teamFinish(raw)
                } else if KernelBindings.threadTeam() == nil {
                    help()
                }
            }
            if let launch {
                launch(size, member.value)
            } else {
                DispatchQueue.concurrentPerform(iterations: size) { member.value($0) }
            }
        }
        KernelBindings.setThreadTeam(nil)
        // Other threads took every iteration before the caller reached one: run on the caller
        // alone (each fan-out then is its own concurrentPerform call).
        guard let value = result.value else { return try body() }
        return try value.get()
    }

    /// The caller's marker while its region's members start: the member on this thread leads.
    private var candidate: UnsafeMutableRawPointer { marker + 1 }

    private func help() {
        // The leader is the calling thread: wait for it only briefly (it may never get an
        // iteration), and leave at once when the region has already ended.
        if !KernelBindings.teamWaitLeader(raw) { return }
        let index = KernelBindings.teamJoin(raw)
        KernelBindings.setThreadTeam(Self.insideTask)
        defer { KernelBindings.setThreadTeam(nil) }
        var task = 0
        var body: UnsafeMutableRawPointer? = nil
        while KernelBindings.teamWaitWork(raw, index: index) {
            while KernelBindings.teamClaim(raw, index: index, task: &task, body: &body) {
                body!.assumingMemoryBound(to: Phase.self).pointee.body(index, task)
                KernelBindings.teamTaskDone(raw)
            }
        }
    }

    // MARK: Phases (called by ParallelFor)

    /// How the calling thread must run a fan-out of `workers` workers.
    enum Placement {
        /// Not inside a region: fan out with `concurrentPerform`.
        case outside
        /// Inside a task: run inline.
        case inline
        /// On a region's leader: run as a phase of this team.
        case team(WorkerTeam)
    }

    static var placement: Placement {
        guard let m = KernelBindings.threadTeam() else { return .outside }
        if m == insideTask { return .inline }
        return .team(Unmanaged<WorkerTeam>.fromOpaque(m).takeUnretainedValue())
    }

    /// True when the calling thread is inside a region (fan-outs there cost a phase, about a
    /// microsecond, instead of a `concurrentPerform` call).
    static var isInsideRegion: Bool { KernelBindings.threadTeam() != nil }

    /// Runs `tasks` tasks as one phase, on members with index < `workers`. Called on the leader.
    func runPhase(tasks: Int, workers: Int, _ body: (_ worker: Int, _ task: Int) -> Void) {
        withoutActuallyEscaping(body) { body in
            var phase = Phase(body: body)
            withUnsafeMutablePointer(to: &phase) { p in
                KernelBindings.teamPublish(raw, tasks: tasks, limit: workers, body: UnsafeMutableRawPointer(p))
                KernelBindings.setThreadTeam(Self.insideTask)
                var task = 0
                var claimed: UnsafeMutableRawPointer? = nil
                while KernelBindings.teamClaim(raw, index: 0, task: &task, body: &claimed) {
                    body(0, task)
                    KernelBindings.teamTaskDone(raw)
                }
                KernelBindings.setThreadTeam(marker)
                KernelBindings.teamWaitPhase(raw, tasks: tasks)
            }
        }
    }

    /// The most tasks one phase may have (larger fan-outs run outside the team).
    static let maximumTasks = KernelBindings.teamMaxTasks()

    // MARK: Reuse

    /// Teams are reused across regions (a run allocates nothing in the steady state); a new one
    /// is made only when more regions than ever before run at once.
    private static let pool = TeamPool()

    private final class TeamPool: @unchecked Sendable {
        private let lock = NSLock()
        private var free: [WorkerTeam] = []
        func take() -> WorkerTeam? {
            lock.lock()
            let t = free.popLast()
            lock.unlock()
            return t ?? WorkerTeam()
        }
        func give(_ t: WorkerTeam) {
            lock.lock()
            free.append(t)
            lock.unlock()
        }
    }
}

/// The leader's result, handed back to the thread that started the region.
private final class ResultBox<R, E: Error>: @unchecked Sendable {
    var value: Result<R, E>?
}

/// Hooks for the tests of ``WorkerTeam`` regions; not part of the stable API.
@_spi(Testing)
public enum WorkerTeamTesting {
    /// How the members of a test region start.
    public enum Start: Sendable {
        /// One `concurrentPerform` call, as in production.
        case concurrentPerform
        /// On the calling thread, one after another: the first runs the whole region.
        case oneAfterAnother
        /// Member 0 on the calling thread and the others on threads of their own, member `i`
        /// after `delays[i]` seconds.
        case threads(delays: [Double])
        /// Every member on a thread of its own: the caller runs none and then runs the region's
        /// code alone.
        case noneOnCaller
    }

    /// Runs `body` as a region of `size` members (not capped to the cores) started as `start`
    /// says, with helpers spinning `spinMicroseconds` before they block.
    public static func region(size: Int, start: Start, spinMicroseconds: Int = 50, _ body: () throws -> Void) throws {
        guard let team = WorkerTeam(spinNanoseconds: Int64(spinMicroseconds) * 1000) else { return try body() }
        switch start {
        case .concurrentPerform:
            try team.run(size: size, body)
        case .oneAfterAnother:
            try team.run(size: size, launch: { count, member in for i in 0..<count { member(i) } }, body)
        case .noneOnCaller:
            try team.run(size: size, launch: { count, member in
                startOnThreads(count: count, callerRuns: false, delays: [], member)
            }, body)
        case let .threads(delays):
            try team.run(size: size, launch: { count, member in
                startOnThreads(count: count, callerRuns: true, delays: delays, member)
            }, body)
        }
    }

    /// Runs `member(i)` for `i < count`, each on a thread of its own after `delays[i]` seconds,
    /// except member 0 on the calling thread when `callerRuns`; returns when all have returned.
    private static func startOnThreads(count: Int, callerRuns: Bool, delays: [Double], _ member: (Int) -> Void) {
        // The threads get a pointer to `member`, never a copy of the closure (a thread would
        // release its copy after the group is left, which withoutActuallyEscaping forbids).
        withoutActuallyEscaping(member) { member in
            var member = member
            withUnsafeMutablePointer(to: &member) { p in
                let shared = UncheckedSendable(UnsafeMutableRawPointer(p))
                let group = DispatchGroup()
                for i in (callerRuns ? 1 : 0)..<Swift.max(count, 1) {
                    group.enter()
                    let delay = i < delays.count ? delays[i] : 0
                    Thread {
                        if delay > 0 { Thread.sleep(forTimeInterval: delay) }
                        shared.value.assumingMemoryBound(to: ((Int) -> Void).self).pointee(i)
                        group.leave()
                    }.start()
                }
                if callerRuns {
                    if let d = delays.first, d > 0 { Thread.sleep(forTimeInterval: d) }
                    p.pointee(0)
                }
                group.wait()
            }
        }
    }

    /// A production region of up to `threads` members (capped to the active cores).
    public static func region(threads: Int, _ body: () throws -> Void) throws {
        try WorkerTeam.region(threads: threads, body)
    }

    /// ``ParallelFor``'s task fan-out: `body(worker, task)` for every task, worker indices below
    /// `min(threads, tasks)`.
    public static func parallelFor(tasks: Int, threads: Int, _ body: (_ worker: Int, _ task: Int) -> Void) {
        ParallelFor.run(tasks: tasks, threads: threads, body)
    }

    /// True on a thread inside a region (its leader, or any member running a task).
    public static var isInsideRegion: Bool { WorkerTeam.isInsideRegion }

    /// The thread count ``ThreadPolicy`` gives `flops` of compute-bound work for a grain of
    /// `base` FLOPs (``ConvKit/minimumFLOPsPerThread``), inside a region or not.
    public static func policyThreads(requested: Int, flops: Int, base: Int, insideRegion: Bool) -> Int {
        ThreadPolicy.threads(requested: requested, flops: flops, base: base, insideRegion: insideRegion)
    }
}
