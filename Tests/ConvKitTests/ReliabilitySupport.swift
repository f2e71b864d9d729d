import ConvKit
import Foundation
import Testing

// Helpers shared by the reliability, fuzz and regression tests (the general ones live in
// ConvTestSupport.swift).

/// One execution path of ConvKit: a backend and the kind of descriptor that selects the path.
struct ReliabilityPath: Sendable, CustomTestStringConvertible {
    let label: String
    let backend: any ConvBackend
    let descriptor: Conv2DDescriptor
    var testDescription: String { "\(label): \(descriptor)" }

    /// The paths every reliability test covers; oneDNN only where it is available.
    static var all: [ReliabilityPath] {
        var paths = [
            ReliabilityPath(label: "direct (GEMM, stride 2)", backend: DirectBackend(), descriptor: Conv2DDescriptor(
                channels: 12, height: 19, width: 21, filters: 20, size: 3, stride: 2, pad: 1, activation: .relu)),
            ReliabilityPath(label: "direct (GEMM, stride 1, groups 2)", backend: DirectBackend(),
                            descriptor: Conv2DDescriptor(channels: 8, height: 15, width: 13, filters: 14, size: 3,
                                                         pad: 1, groups: 2)),
            ReliabilityPath(label: "direct (depthwise)", backend: DirectBackend(), descriptor: Conv2DDescriptor(
                channels: 16, height: 20, width: 20, filters: 16, size: 3, pad: 1, groups: 16, activation: .relu6)),
            ReliabilityPath(label: "winograd", backend: WinogradBackend(), descriptor: Conv2DDescriptor(
                channels: 16, height: 18, width: 18, filters: 16, size: 3, pad: 1)),
            ReliabilityPath(label: "reference", backend: ReferenceBackend(), descriptor: Conv2DDescriptor(
                channels: 4, height: 9, width: 9, filters: 6, size: 3, pad: 1)),
        ]
        if OneDNNBackend().availability.isAvailable {
            paths.append(ReliabilityPath(label: "onednn", backend: OneDNNBackend(), descriptor: Conv2DDescriptor(
                channels: 12, height: 19, width: 21, filters: 20, size: 3, stride: 2, pad: 1, activation: .relu)))
        }
        return paths
    }
}

/// Every backend the fuzz and bad-input tests compare: all registered ones that are
/// available, plus `auto`.
var reliabilityBackends: [any ConvBackend] {
    BackendRegistry.shared.all.filter { $0.availability.isAvailable }
        + [try! BackendRegistry.shared.backend(named: "auto")]
}

/// A value behind a lock, for results gathered from several threads.
final class LockedBox<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withValue<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock(); defer { lock.unlock() }
        return try body(&value)
    }
}

/// Runs `body(i)` for `i in 0..<count` on `count` distinct OS threads that start together
/// (a barrier), so the calls really overlap even on a 2-core machine where
/// `concurrentPerform` and the cooperative pool would run only 2 at a time.
func runOnSeparateThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let start = DispatchSemaphore(value: 0)
    let done = DispatchGroup()
    for i in 0..<count {
        done.enter()
        let thread = Thread {
            start.wait()
            body(i)
            done.leave()
        }
        thread.stackSize = 1 << 22
        thread.start()
    }
    for _ in 0..<count { start.signal() }
    done.wait()
}

/// Resident set size of this process in bytes (`/proc/self/statm`), or nil where unavailable.
func residentBytes() -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
    let fields = text.split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}

/// The sanitizer this test process runs under (`CONVKIT_SANITIZER`, set by scripts/test.sh), if any.
/// Tests that measure memory or time relax or skip those measurements under a sanitizer.
let activeSanitizer: String? = {
    let v = ProcessInfo.processInfo.environment["CONVKIT_SANITIZER"] ?? ""
    return v.isEmpty ? nil : v
}()

/// Executes `prepared` on `input` into a fresh output filled with `sentinel` and returns it.
func executeFilled(_ prepared: any PreparedConvolution, _ input: [Float], threads: Int?,
                   sentinel: Float = .nan) throws -> [Float] {
    var out = [Float](repeating: sentinel, count: prepared.descriptor.outputCount)
    try input.withUnsafeBufferPointer { x in
        try out.withUnsafeMutableBufferPointer { y in try prepared.execute(input: x, output: y, threads: threads) }
    }
    return out
}

/// True when `a` and `b` hold the same bit patterns.
func bitwiseEqual(_ a: [Float], _ b: [Float]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern }
}

/// True when the leak tests run by themselves (`CONVKIT_LEAK_CHECK=1`, set by scripts/test.sh
/// for a separate `--filter noLeaks` run): only then is resident memory a measure of this test.
let leakCheckRunsAlone: Bool = ProcessInfo.processInfo.environment["CONVKIT_LEAK_CHECK"] == "1"
