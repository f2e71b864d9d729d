import Synchronization

/// A fixed-size, 64-byte aligned, zero-initialised buffer of floats.
///
/// The storage behind ``Tensor`` and behind the backends' packed weights and
/// workspaces. Its pointer never escapes except through scoped accessors.
@usableFromInline
final class AlignedBuffer: @unchecked Sendable {
    @usableFromInline let base: UnsafeMutablePointer<Float>
    @usableFromInline let count: Int

    /// Alignment in bytes of every buffer (a cache line; also ymm/zmm friendly).
    static let alignment = 64
    /// Buffers of at least this many bytes are 2 MiB aligned and advised to use huge pages.
    static let hugePageThreshold = 1 << 20
    static let hugePage = 2 << 20

    /// Allocates `count` zeroed floats. `count` must be non-negative and its byte size
    /// must fit in `Int` (callers validate sizes before allocating).
    @usableFromInline
    init(count: Int) {
        self.count = count
        let bytes = Swift.max(count, 1) * MemoryLayout<Float>.stride
        let raw: UnsafeMutableRawPointer
        if bytes >= AlignedBuffer.hugePageThreshold {
            // Large buffers (packed weights, workspaces, big tensors) on 2 MiB pages where the
            // OS offers them: with 4 KiB pages their physical placement, hence which L2 sets
            // they share, changes from one allocation to the next (measured: the same layer
            // ran at 65-97 GFLOP/s depending on the allocation).
            let huge = AlignedBuffer.hugePage
            let rounded = (bytes + huge - 1) / huge * huge
            raw = UnsafeMutableRawPointer.allocate(byteCount: rounded, alignment: huge)
            KernelBindings.adviseHugePages(raw, bytes: rounded)
        } else {
            raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: AlignedBuffer.alignment)
        }
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        base = raw.bindMemory(to: Float.self, capacity: Swift.max(count, 1))
        AlignedBuffer.live.wrappingAdd(1, ordering: .relaxed)
    }

    /// A copy of `source`.
    convenience init(copying source: UnsafeBufferPointer<Float>) {
        self.init(count: source.count)
        if let s = source.baseAddress { base.update(from: s, count: source.count) }
    }

    deinit {
        UnsafeMutableRawPointer(base).deallocate()
        AlignedBuffer.live.wrappingSubtract(1, ordering: .relaxed)
    }

    /// Buffers currently allocated (weights, workspaces, tensors), for leak tests.
    static let live = Atomic<Int>(0)

    var buffer: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: base, count: count) }
    var mutableBuffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: base, count: count) }
}
