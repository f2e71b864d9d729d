/// The one thread policy: how many of the threads a call was given its work is worth.
///
/// Every kernel and layer states its work once, as compute-bound FLOPs or as memory-bound
/// elements (floats read and written), and asks here; nothing else in ConvKit decides a thread
/// count. A worker must get at least a grain of work, because handing it the work costs:
/// - outside a ``WorkerTeam`` region a fan-out is one `concurrentPerform` call, 9-12 us once its
///   workers have parked: the grain is ``ConvKit/minimumFLOPsPerThread`` (2 MFLOP, about 20 us);
/// - inside a region (a model run, a Winograd execute) it is one phase of a team whose helpers
///   are spinning, about a microsecond: the grain is a quarter of that.
///
/// So the smallest layers run on one thread, and a layer never gets more threads than it has
/// grains of work. Results never depend on the thread count (see ``ParallelFor``).
enum ThreadPolicy {
    /// One memory-bound element (a float read and written, about 0.5 ns from L2) counted in
    /// FLOPs of FMA-bound work (about 100 GFLOP/s per thread).
    static let flopsPerElement = 64

    /// The threads worth using for `flops` FLOPs of compute-bound work: at most `requested`,
    /// at least 1, one per grain.
    static func threads(requested: Int, flops: Int) -> Int {
        threads(requested: requested, flops: flops, base: ConvKit.minimumFLOPsPerThread,
                insideRegion: WorkerTeam.isInsideRegion)
    }

    /// The rule itself, for a grain of `base` FLOPs outside a region (0: every thread).
    static func threads(requested: Int, flops: Int, base: Int, insideRegion: Bool) -> Int {
        if base <= 0 { return Swift.max(requested, 1) }
        let grain = insideRegion ? Swift.max(base / 4, 1) : base
        return Swift.max(1, Swift.min(requested, flops / grain))
    }

    /// The threads worth using for memory-bound work over `elements` floats.
    static func threads(requested: Int, elements: Int) -> Int {
        let (product, overflow) = elements.multipliedReportingOverflow(by: flopsPerElement)
        return threads(requested: requested, flops: overflow ? Int.max : product)
    }
}
