import Foundation

/// Scratch buffers reused across executions of one prepared convolution.
///
/// An execution takes a buffer of at least the requested size and gives it back when
/// done, so concurrent executions each get their own and steady-state executions
/// allocate nothing. A buffer is allocated only when every pooled one is in use (the
/// first execution, or a new level of concurrency).
final class WorkspacePool: @unchecked Sendable {
    private let lock = NSLock()
    private var free: [AlignedBuffer] = []

    /// Runs `body` with a zero-initialised-once buffer of at least `count` floats.
    func withBuffer<R>(count: Int, _ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        lock.lock()
        var buffer: AlignedBuffer? = nil
        if let i = free.firstIndex(where: { $0.count >= count }) { buffer = free.remove(at: i) }
        lock.unlock()
        let b = buffer ?? AlignedBuffer(count: count)
        defer {
            lock.lock()
            free.append(b)
            lock.unlock()
        }
        return try body(b.base)
    }
}

/// Refuses a workspace larger than half of this machine's physical memory: such a convolution
/// would fail to allocate (or thrash) at execute time, so it is refused at prepare time.
func checkWorkspace(_ bytes: Int, backend: String) throws {
    let limit = ProcessInfo.processInfo.physicalMemory / 2
    if UInt64(bytes) > limit {
        throw ConvError.sizeOverflow(what: "\(backend) workspace of \(bytes) bytes",
                                     limit: "more than half of the \(ProcessInfo.processInfo.physicalMemory) bytes of memory")
    }
}
