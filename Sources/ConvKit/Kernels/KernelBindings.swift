// The only Swift file that imports the C target `CKernels`: every C entry point ConvKit calls is
// bound here once, either as an entry of a per-ISA ``KernelTable`` (the compute micro-kernels)
// or as a thin wrapper in ``KernelBindings`` (CPU features, threading primitives, memory
// advice). The rest of the library names kernels through the table, never by symbol, so that
// which kernel runs is data chosen once from the CPU features.
import CKernels

// MARK: Flags and constants of the C contract (ck_kernels.h)

/// Flags and tile sizes of the C kernels' contract (see `CKernels/include/ck_kernels.h`).
enum KernelFlags {
    /// Clamp to `[lo, hi]` before the store (NaN propagates).
    static let clamp: UInt32 = CK_GEMM_CLAMP
    /// GEMM kernels: add to C instead of overwriting it (bias ignored).
    static let gemmAccumulate: UInt32 = CK_GEMM_ACCUMULATE
    /// Convolution kernels: add the prior output before the clamp (a fused residual addition).
    static let convAccumulate: UInt32 = CK_CONV_ACCUMULATE
    /// The store flags of a convolution kernel for `d`: clamp when it has an activation, add to
    /// the prior output when it accumulates (a fused residual addition).
    static func store(for d: Conv2DDescriptor) -> UInt32 {
        (d.activation != .none ? clamp : 0) | (d.accumulate ? convAccumulate : 0)
    }
    /// Tiles of 7 pixels in the 6x32 pair kernel (pixel ranges of 7n pixels).
    static let convTile7: UInt32 = CK_CONV_TILE7
    /// Indirect convolution kernels: prefetch the input taps (inputs far larger than L2).
    static let prefetchInput: UInt32 = CK_CONV_PREFETCH_INPUT
    /// The GEMM micro-tile: `MR` rows of A, `NR` columns of B.
    static let gemmMR = Int(CK_GEMM_MR)
    static let gemmNR = Int(CK_GEMM_NR)
}

// MARK: Kernel signatures (C function pointers held by KernelTable)

/// The vertical tap geometry the indirect kernels use to skip rows of zero padding.
typealias ConvTapRows = ck_conv_rows

typealias GEMMKernel = @convention(c) (Int, UnsafePointer<Float>?, UnsafePointer<Float>?, UnsafeMutablePointer<Float>?,
                                       Int, Int, Int, UInt32, UnsafePointer<Float>?, Float, Float) -> Void
typealias GEMMPairKernel = @convention(c) (Int, UnsafePointer<Float>?, UnsafePointer<Float>?, Int,
                                           UnsafeMutablePointer<Float>?, Int, Int, Int, UInt32,
                                           UnsafePointer<Float>?, Float, Float) -> Void
typealias GEMMRowPairKernel = @convention(c) (Int, UnsafePointer<Float>?, Int, UnsafePointer<Float>?,
                                              UnsafeMutablePointer<Float>?, Int, Int, Int, UInt32,
                                              UnsafePointer<Float>?, Float, Float) -> Void
typealias ConvTileKernel = @convention(c) (Int, UnsafePointer<Float>?, UnsafePointer<Int32>?, UnsafePointer<Float>?,
                                           Int, Int, Int, Int, Int, UnsafeMutablePointer<Float>?, Int, Int,
                                           UnsafePointer<Float>?, UInt32, Float, Float,
                                           UnsafePointer<ConvTapRows>?) -> Void
typealias ConvTilePairKernel = @convention(c) (Int, UnsafePointer<Float>?, Int, UnsafePointer<Int32>?,
                                               UnsafePointer<Float>?, Int, Int, Int, Int, Int,
                                               UnsafeMutablePointer<Float>?, Int, Int, UnsafePointer<Float>?, UInt32,
                                               Float, Float, UnsafePointer<ConvTapRows>?) -> Void
typealias ConvRowsKernel = @convention(c) (Int, UnsafePointer<Float>?, Int, Int, UnsafePointer<Int32>?,
                                           UnsafePointer<Float>?, Int, Int, Int, Int, Int,
                                           UnsafeMutablePointer<Float>?, Int, Int, UnsafePointer<Float>?, UInt32,
                                           Float, Float, UnsafePointer<ConvTapRows>?) -> Void
typealias FewChannelsKernel = @convention(c) (Int, UnsafePointer<Float>?, UnsafePointer<Int32>?, UnsafePointer<Float>?,
                                              Int, Int, Int, Int, UnsafeMutablePointer<Float>?, Int, Int,
                                              UnsafePointer<Float>?, UInt32, Float, Float) -> Void
typealias PointwiseTileKernel = @convention(c) (Int, UnsafePointer<Float>?, UnsafePointer<Float>?, Int, Int,
                                                UnsafeMutablePointer<Float>?, Int, Int, UnsafePointer<Float>?,
                                                UInt32, Float, Float) -> Void
typealias DepthwisePlaneKernel = @convention(c) (UnsafePointer<Float>?, Int, Int, Int, Int, Int, Int, Int,
                                                 UnsafePointer<Float>?, Float, UInt32, Float, Float,
                                                 UnsafeMutablePointer<Float>?) -> Void
typealias DepthwiseUnpaddedKernel = @convention(c) (UnsafePointer<Float>?, Int, Int, Int, Int, Int, Int, Int, Int, Int,
                                                     UnsafePointer<Float>?, Float, UInt32, Float, Float,
                                                     UnsafeMutablePointer<Float>?) -> Void
typealias DepthwiseChannelBlockKernel = @convention(c) (UnsafePointer<Float>?, Int, Int, Int, Int, Int, Int, Int, Int,
                                                         Int, Int, Int, UnsafePointer<Float>?, UnsafePointer<Float>?,
                                                         UInt32, Float, Float, UnsafeMutablePointer<Float>?,
                                                         UnsafeMutablePointer<Float>?) -> Void
typealias Im2colRowsKernel = @convention(c) (UnsafePointer<Float>?, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int,
                                              Int, Int, Int, Int, UnsafeMutablePointer<Float>?, Int) -> Void
typealias DepthwiseRowKernel = @convention(c) (Int, Int, Int, UnsafePointer<Float>?, Int, Int, Int,
                                               UnsafePointer<Float>?, UnsafeMutablePointer<Float>?) -> Void
typealias FullyConnectedTileKernel = @convention(c) (Int, UnsafePointer<Float>?, Int, Int, UnsafePointer<Float>?, Int,
                                                     Int, UnsafeMutablePointer<Float>?, Int, UnsafePointer<Float>?,
                                                     UInt32, Float, Float) -> Void
typealias FullyConnectedRowKernel = @convention(c) (Int, UnsafePointer<Float>?, Int, Int, UnsafePointer<Float>?,
                                                    UnsafeMutablePointer<Float>?, UnsafePointer<Float>?, UInt32, Float,
                                                    Float) -> Void
typealias PoolPlaneKernel = @convention(c) (Int32, Int32, UnsafePointer<Float>?,
                                            Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int,
                                            UnsafeMutablePointer<Float>?, UnsafeMutablePointer<Float>?) -> Void
typealias WinogradF4InputKernel = @convention(c) (Int, UnsafePointer<Float>?, Int, Int, Int, Int, UInt32,
                                                  UnsafePointer<Int32>?, UnsafeMutablePointer<Float>?, Int, Int) -> Void
typealias WinogradF4OutputKernel = @convention(c) (Int, UnsafePointer<Float>?, Int, Int, UnsafePointer<Float>?, UInt32,
                                                   Float, Float, UnsafeMutablePointer<Float>?, Int, Int,
                                                   UnsafePointer<Int>?, UnsafePointer<Int32>?) -> Void
typealias WinogradInputKernel = @convention(c) (Int, UnsafePointer<Float>?, Int, UnsafePointer<Float>?, Int, Int,
                                                UnsafePointer<Int32>?, UnsafeMutablePointer<Float>?, Int, Int) -> Void
typealias WinogradOutputKernel = @convention(c) (Int, UnsafePointer<Float>?, Int, UnsafePointer<Float>?, Int, Int,
                                                 UnsafePointer<Float>?, UInt32, Float, Float,
                                                 UnsafeMutablePointer<Float>?, Int, Int, UnsafePointer<Int>?,
                                                 UnsafePointer<Int32>?) -> Void

// MARK: The tables

extension KernelTable {
    /// The portable ISA: no C kernel; every operator runs its Swift SIMD path.
    static let portable = KernelTable(
        isa: .portable, gemm: nil, gemmPair: nil, convTile: nil, convTilePair: nil, fewChannels: nil,
        fewChannelsName: "", fewChannelsVectorPixels: 1,
        pointwiseTile: nil, pointwisePixelsPerStep: 16, im2colRows: nil,
        depthwisePlane: nil, depthwiseUnpadded: nil, depthwiseChannelBlock: nil, depthwiseChannelBlockWidth: 1,
        depthwiseRow: nil,
        fullyConnectedTile: nil, fullyConnectedRow: nil, poolPlane: nil,
        winogradF4Input: nil, winogradF4Output: nil, winogradInput: nil, winogradOutput: nil)

    /// AVX2 + FMA (x86-64 with both): the 6x16 kernels.
    static let avx2fma = KernelTable(
        isa: .avx2fma, gemm: ck_f32_gemm_ukernel_6x16__avx2_fma, gemmPair: nil,
        convTile: ck_f32_conv_tiles_6x16__avx2_fma, convTilePair: nil,
        convRowsInPlace: ck_f32_conv_rows_6x16__avx2_fma, fewChannels: ck_f32_conv_fewk_8px__avx2_fma,
        fewChannelsName: "ck_f32_conv_fewk_8px (avx2+fma)", fewChannelsVectorPixels: 8,
        pointwiseTile: ck_f32_conv1x1_tiles_6x16__avx2_fma, pointwisePixelsPerStep: 16, im2colRows: nil,
        depthwisePlane: ck_f32_dwconv_plane_ukernel__avx2_fma, depthwiseUnpadded: nil,
        depthwiseChannelBlock: ck_f32_dwconv_c8_ukernel__avx2_fma, depthwiseChannelBlockWidth: 8,
        depthwiseRow: ck_f32_dwconv_row_ukernel__avx2_fma,
        fullyConnectedTile: ck_f32_fc_ukernel_4x3__avx2_fma, fullyConnectedRow: ck_f32_fc_ukernel_8x1__avx2_fma,
        poolPlane: ck_f32_pool2d_plane__avx2,
        winogradF4Input: ck_f32_winograd_f4x3_input_ukernel__avx2_fma,
        winogradF4Output: ck_f32_winograd_f4x3_output_ukernel__avx2_fma,
        winogradInput: ck_f32_winograd_input_ukernel__avx2_fma,
        winogradOutput: ck_f32_winograd_output_ukernel__avx2_fma)

    /// AVX-512F: the AVX2 table with the AVX-512F kernels where they exist (6x32 GEMM and
    /// indirect tiles, the 32-pixel few-channel kernel, 6x64 pointwise tiles, the 3x3, 5x5 and 7x7
    /// depthwise plane kernel, which passes other filters to the AVX2 one, and its form that
    /// reads the unpadded plane in place, the im2col rows for few-channel layers). Each computes the same sums in
    /// the same order as the AVX2 kernel it replaces or pairs.
    static let avx512f: KernelTable = {
        var t = KernelTable.avx2fma
        t.isa = .avx512f
        t.gemmPair = ck_f32_gemm_ukernel_6x32__avx512f
        t.gemmRowPair = ck_f32_gemm_ukernel_12x16__avx512f
        t.convTilePair = ck_f32_conv_tiles_6x32__avx512f
        t.convRowsInPlace = ck_f32_conv_rows_6x32__avx512f
        t.fewChannels = ck_f32_conv_fewk_32px__avx512f
        t.fewChannelsName = "ck_f32_conv_fewk_32px (avx512f)"
        t.fewChannelsVectorPixels = 16
        t.pointwiseTile = ck_f32_conv1x1_tiles_6x64__avx512f
        t.pointwisePixelsPerStep = 64
        t.im2colRows = ck_f32_im2col_rows__avx512f
        t.depthwisePlane = ck_f32_dwconv_plane_ukernel__avx512f
        t.depthwiseUnpadded = ck_f32_dwconv_unpadded_ukernel__avx512f
        t.depthwiseChannelBlock = ck_f32_dwconv_c16_ukernel__avx512f
        t.depthwiseChannelBlockWidth = 16
        return t
    }()
}

// MARK: Wrappers of the other C entry points

/// Thin wrappers of the C entry points that are not micro-kernels: CPU features, the worker
/// team's synchronisation, an atomic counter, memory advice and the FMA peak probe.
enum KernelBindings {
    // CPU features (ck_cpu_features.c)
    static let cpuAVX2: UInt32 = CK_CPU_AVX2
    static let cpuFMA: UInt32 = CK_CPU_FMA
    static let cpuAVX512F: UInt32 = CK_CPU_AVX512F
    @inline(__always) static func cpuFeatures() -> UInt32 { ck_cpu_features() }
    @inline(__always) static func fmaPeakProbe(iterations: Int) -> Float { ck_f32_fma_peak_probe__avx2_fma(iterations) }
    @inline(__always) static func fmaPeakProbeAVX512(iterations: Int) -> Float {
        ck_f32_fma_peak_probe__avx512f(iterations)
    }

    // Memory (ck_memory.c)
    @inline(__always) static func adviseHugePages(_ p: UnsafeMutableRawPointer, bytes: Int) {
        ck_advise_huge_pages(p, bytes)
    }

    // Atomics (ck_atomic.c)
    @inline(__always) static func atomicFetchIncrement(_ counter: UnsafeMutablePointer<Int>) -> Int {
        ck_atomic_fetch_increment(counter)
    }

    // The worker team (ck_team.c); see WorkerTeam for the protocol.
    typealias Team = OpaquePointer
    @inline(__always) static func teamCreate(spinNanoseconds: Int64) -> Team? { ck_team_create(spinNanoseconds) }
    @inline(__always) static func teamDestroy(_ t: Team) { ck_team_destroy(t) }
    @inline(__always) static func teamReset(_ t: Team) { ck_team_reset(t) }
    @inline(__always) static func teamTakeLead(_ t: Team) -> Bool { ck_team_take_lead(t) != 0 }
    @inline(__always) static func teamJoin(_ t: Team) -> Int { ck_team_join(t) }
    @inline(__always) static func teamWaitLeader(_ t: Team) -> Bool { ck_team_wait_leader(t) != 0 }
    @inline(__always) static func teamMaxTasks() -> Int { ck_team_max_tasks() }
    @inline(__always) static func teamPublish(_ t: Team, tasks: Int, limit: Int, body: UnsafeMutableRawPointer?) {
        ck_team_publish(t, tasks, limit, body)
    }
    @inline(__always) static func teamClaim(_ t: Team, index: Int, task: UnsafeMutablePointer<Int>,
                                            body: UnsafeMutablePointer<UnsafeMutableRawPointer?>) -> Bool {
        ck_team_claim(t, index, task, body) != 0
    }
    @inline(__always) static func teamTaskDone(_ t: Team) { ck_team_task_done(t) }
    @inline(__always) static func teamWaitPhase(_ t: Team, tasks: Int) { ck_team_wait_phase(t, tasks) }
    @inline(__always) static func teamFinish(_ t: Team) { ck_team_finish(t) }
    @inline(__always) static func teamWaitWork(_ t: Team, index: Int) -> Bool { ck_team_wait_work(t, index) != 0 }
    @inline(__always) static func threadTeam() -> UnsafeMutableRawPointer? { ck_thread_team() }
    @inline(__always) static func setThreadTeam(_ p: UnsafeMutableRawPointer?) { ck_set_thread_team(p) }

    /// The vertical tap geometry of an indirect convolution (`ck_conv_rows`).
    static func convTapRows(kernelRows: Int, tapsPerRow: Int, inputHeight: Int, padTop: Int, stride: Int,
                            dilation: Int, skip: Bool, kernelColumns: Int = 1, channels: Int = 1,
                            inputWidth: Int = 0, padLeft: Int = 0, columnStride: Int = 1, columnDilation: Int = 1,
                            skipColumns: Bool = false) -> ConvTapRows {
        ck_conv_rows(kernel_rows: kernelRows, taps_per_row: tapsPerRow, input_height: inputHeight, pad_top: padTop,
                     stride: stride, dilation: dilation, skip: skip ? 1 : 0, kernel_cols: kernelColumns,
                     channels: channels, input_width: inputWidth, pad_left: padLeft, col_stride: columnStride,
                     col_dilation: columnDilation, skip_cols: skipColumns ? 1 : 0)
    }
}
