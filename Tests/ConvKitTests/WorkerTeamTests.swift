import Foundation
import Testing
@_spi(Testing) import ConvKit

/// Runs `phases` fan-outs (task counts and thread counts varying) inside the current region and
/// returns, per phase, how often each task ran and the largest worker index seen.
private func runPhases(_ phases: [(tasks: Int, threads: Int)]) -> [(counts: [Int], maxWorker: Int)] {
    phases.map { phase in
        var counts = [Int](repeating: 0, count: phase.tasks)
        var workers = [Int](repeating: -1, count: phase.tasks)
        counts.withUnsafeMutableBufferPointer { c in
            workers.withUnsafeMutableBufferPointer { w in
                let cp = UncheckedPointer(c.baseAddress!), wp = UncheckedPointer(w.baseAddress!)
                WorkerTeamTesting.parallelFor(tasks: phase.tasks, threads: phase.threads) { worker, task in
                    cp.value[task] += 1       // tasks write disjoint slots
                    wp.value[task] = worker
                }
            }
        }
        return (counts, workers.max() ?? -1)
    }
}

private struct UncheckedPointer: @unchecked Sendable {
    let value: UnsafeMutablePointer<Int>
    init(_ value: UnsafeMutablePointer<Int>) { self.value = value }
}

private let phasePlan: [(tasks: Int, threads: Int)] = [
    (1, 4), (7, 2), (100, 4), (3, 3), (64, 1), (1000, 4), (2, 4), (5, 16), (33, 3),
]

@Suite("Worker teams: one fan-out per region")
struct WorkerTeamTests {
    private func check(_ results: [(counts: [Int], maxWorker: Int)], size: Int, _ context: String) {
        for (phase, r) in zip(phasePlan, results) {
            #expect(r.counts.allSatisfy { $0 == 1 }, "\(context): phase \(phase) ran tasks \(r.counts.filter { $0 != 1 }.count) times wrong")
            let bound = Swift.min(phase.threads, phase.tasks, size)
            #expect(r.maxWorker < Swift.max(bound, 1), "\(context): phase \(phase) saw worker \(r.maxWorker), bound \(bound)")
        }
    }

    @Test("members started one after another: the first runs every phase, the others find the region over",
          arguments: [2, 3, 4, 8])
    func oneAfterAnother(size: Int) throws {
        var results: [(counts: [Int], maxWorker: Int)] = []
        try WorkerTeamTesting.region(size: size, start: .oneAfterAnother) {
            #expect(WorkerTeamTesting.isInsideRegion)
            results = runPhases(phasePlan)
        }
        check(results, size: 1, "sequential members, size \(size)")
        #expect(!WorkerTeamTesting.isInsideRegion)
    }

    @Test("the caller runs no member: it runs the region alone, and the helpers leave")
    func noneOnCaller() throws {
        var results: [(counts: [Int], maxWorker: Int)] = []
        try WorkerTeamTesting.region(size: 3, start: .noneOnCaller) {
            #expect(!WorkerTeamTesting.isInsideRegion)   // fan-outs are their own concurrentPerform calls
            results = runPhases(phasePlan)
        }
        for (phase, r) in zip(phasePlan, results) {
            #expect(r.counts.allSatisfy { $0 == 1 }, "phase \(phase)")
            #expect(r.maxWorker < Swift.min(phase.threads, phase.tasks), "phase \(phase)")
        }
    }

    @Test("helpers on their own threads start early, late, or after the caller's leader has finished",
          arguments: [[0.0, 0.0, 0.0, 0.0], [0.0, 0.002, 0.005, 0.02], [0.02, 0.0, 0.0, 0.0], [0.0, 0.05, 0.05, 0.05]])
    func lateMembers(delays: [Double]) throws {
        for spin in [0, 50] {   // helpers that block at once, and helpers that spin first
            var results: [(counts: [Int], maxWorker: Int)] = []
            try WorkerTeamTesting.region(size: delays.count, start: .threads(delays: delays), spinMicroseconds: spin) {
                results = runPhases(phasePlan + phasePlan)
            }
            check(Array(results.prefix(phasePlan.count)), size: delays.count, "delays \(delays), spin \(spin) us")
            check(Array(results.suffix(phasePlan.count)), size: delays.count, "delays \(delays), spin \(spin) us")
        }
    }

    @Test("a fan-out inside a task runs inline; a region inside a region is the same region")
    func nesting() throws {
        var sums = [Int](repeating: 0, count: 6)
        try WorkerTeamTesting.region(size: 3, start: .concurrentPerform) {
            // concurrentPerform may hand every iteration to other threads before the caller gets
            // one (seen under the address sanitizer); the body then runs on the caller outside any
            // region, by design, and its tasks are not inside one either.
            let led = WorkerTeamTesting.isInsideRegion
            sums.withUnsafeMutableBufferPointer { s in
                let sp = UncheckedPointer(s.baseAddress!)
                WorkerTeamTesting.parallelFor(tasks: 6, threads: 3) { _, task in
                    #expect(WorkerTeamTesting.isInsideRegion == led)
                    var inner = [Int](repeating: 0, count: 10)
                    inner.withUnsafeMutableBufferPointer { b in
                        let bp = UncheckedPointer(b.baseAddress!)
                        WorkerTeamTesting.parallelFor(tasks: 10, threads: 3) { _, i in bp.value[i] = i * task }
                    }
                    sp.value[task] = inner.reduce(0, +)
                }
            }
            try WorkerTeamTesting.region(threads: 2) {
                #expect(runPhases([(50, 2)])[0].counts.allSatisfy { $0 == 1 })
            }
        }
        #expect(sums == (0..<6).map { 45 * $0 })
    }

    @Test("an error thrown by the region's code reaches the caller, and the next region runs")
    func errors() throws {
        struct Failure: Error {}
        #expect(throws: Failure.self) {
            try WorkerTeamTesting.region(size: 2, start: .concurrentPerform) {
                _ = runPhases([(10, 2)])
                throw Failure()
            }
        }
        for _ in 0..<3 {
            var results: [(counts: [Int], maxWorker: Int)] = []
            try WorkerTeamTesting.region(threads: 16) { results = runPhases(phasePlan) }
            check(results, size: ProcessInfo.processInfo.activeProcessorCount, "after an error")
        }
    }

    @Test("many regions at once from many threads, 1 to 16 members each")
    func concurrentRegions() async throws {
        let failures = try await withThrowingTaskGroup(of: Int.self) { group in
            for i in 0..<12 {
                group.addTask {
                    var bad = 0
                    for round in 0..<20 {
                        try WorkerTeamTesting.region(threads: [1, 2, 4, 8, 16][(i + round) % 5]) {
                            for r in runPhases(phasePlan) where !r.counts.allSatisfy({ $0 == 1 }) { bad += 1 }
                        }
                    }
                    return bad
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(failures == 0)
    }

    @Test("the thread policy: the smallest work gets one thread, a region's grain is finer, never above the request")
    func policy() throws {
        let grain = 2_000_000
        func threads(_ requested: Int, _ flops: Int, inside: Bool = false) -> Int {
            WorkerTeamTesting.policyThreads(requested: requested, flops: flops, base: grain, insideRegion: inside)
        }
        #expect(threads(8, grain - 1) == 1)
        #expect(threads(8, 0) == 1)
        #expect(threads(8, 3 * grain) == 3)
        #expect(threads(2, 100 * grain) == 2)
        #expect(threads(1, .max) == 1)
        #expect(threads(8, grain, inside: true) == 4)
        #expect(threads(8, grain / 4 - 1, inside: true) == 1)
        #expect(WorkerTeamTesting.policyThreads(requested: 8, flops: 1, base: 0, insideRegion: false) == 8)
    }
}
