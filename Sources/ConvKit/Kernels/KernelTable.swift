/// The micro-kernels of one ISA, chosen once from the CPU features: kernel choice as data.
///
/// Every operator (the direct paths, Winograd's products and transforms, depthwise, fully
/// connected and pooling layers) reads its kernels from the table of its ``KernelISA`` instead of
/// naming C symbols or switching on the ISA. A `nil` entry means the ISA has no C kernel for that
/// slot and the operator runs its portable Swift path. The tables themselves are defined next to
/// the C bindings (`KernelBindings.swift`, the only file that imports `CKernels`); the portable,
/// AVX2+FMA and AVX-512F tables are ``portable``, ``avx2fma`` and ``avx512f``.
///
/// Tiles: the GEMM is 6x16 (``KernelFlags/gemmMR`` x ``KernelFlags/gemmNR``) with an optional
/// 6x32 pair kernel over two adjacent 16-column B panels; the indirect convolution tiles are 6
/// pixels x 16 channels with an optional 6x32 pair; the pointwise tile is 6 channels x
/// ``pointwisePixelsPerStep`` pixels. A pair kernel computes each sum exactly as two calls of the
/// single kernel would, so results do not depend on the table.
///
/// Threading: the kernels do no threading and no allocation; the tables are immutable static
/// values shared by all threads (their fields are `var` only so that one table can be derived
/// from another).
struct KernelTable: Sendable {
    var isa: KernelISA

    // GEMM (implicit-GEMM direct convolution, Winograd products).
    var gemm: GEMMKernel?
    var gemmPair: GEMMPairKernel?
    /// 12 rows (two A panels) x 16 columns: the Winograd products, one 16-tile B panel wide.
    var gemmRowPair: GEMMRowPairKernel? = nil

    // Indirect direct convolution: 6 pixels x 16 channels, its 6x32 pair, and the few-channel
    // (at most 12 per panel, stride 1 along rows) kernel.
    var convTile: ConvTileKernel?
    var convTilePair: ConvTilePairKernel?
    /// The 6x32 and 6x16 tiles over whole output rows (AVX-512F), or the 6x16 tiles (AVX2),
    /// reading the unpadded input in place and skipping, pixel by pixel, every tap that falls in
    /// the padding.
    var convRowsInPlace: ConvRowsKernel? = nil
    var fewChannels: FewChannelsKernel?
    var fewChannelsName: String
    /// Output pixels of one vector of the few-channel kernel (8 on AVX2, 16 on AVX-512F): a row
    /// of `W` pixels fills `W / (v * ceil(W / v))` of its lanes, which decides against the 6x16
    /// tile (see `DirectIndirectConvolution.runsFewChannels`).
    var fewChannelsVectorPixels: Int

    // Pointwise GEMM on NCHW planes: 6 channels x pointwisePixelsPerStep pixels.
    var pointwiseTile: PointwiseTileKernel?
    var pointwisePixelsPerStep: Int
    /// The lowered input (im2col rows) of a block of output pixels, for layers with few input
    /// channels run as a pointwise GEMM over it.
    var im2colRows: Im2colRowsKernel?

    // Depthwise: the whole-plane kernel (over a zero-padded plane), the kernel for square 3x3,
    // 5x5 and 7x7 filters (dilation 1 or 2, stride 1 or 2) that reads an unpadded plane in place, and
    // the row kernel.
    var depthwisePlane: DepthwisePlaneKernel?
    var depthwiseUnpadded: DepthwiseUnpaddedKernel?
    /// `depthwiseChannelBlockWidth` channels at a time as the vector (16 on AVX-512F, 8 on
    /// AVX2+FMA), over a zero-padded pixel-major copy of their planes (any filter, stride 1 or 2),
    /// for planes and filters the plane kernels run poorly.
    var depthwiseChannelBlock: DepthwiseChannelBlockKernel?
    var depthwiseChannelBlockWidth: Int
    var depthwiseRow: DepthwiseRowKernel?

    // Fully connected: 4 outputs x 3 samples, and the batch-1 8-output GEMV (same sums).
    var fullyConnectedTile: FullyConnectedTileKernel?
    var fullyConnectedRow: FullyConnectedRowKernel?

    // Max and average pooling of one plane.
    var poolPlane: PoolPlaneKernel?

    // Winograd transforms: F(4x4, 3x3) with its fixed matrices, and the generic dense products
    // for alpha = 4 or 8 (F(2x2, 3x3), F(6x6, 3x3)).
    var winogradF4Input: WinogradF4InputKernel?
    var winogradF4Output: WinogradF4OutputKernel?
    var winogradInput: WinogradInputKernel?
    var winogradOutput: WinogradOutputKernel?

    /// The table of `isa` (whether or not this CPU can run it; see ``KernelISA/isSupported(_:)``).
    static func of(_ isa: KernelISA) -> KernelTable {
        switch isa {
        case .portable: return .portable
        case .avx2fma: return .avx2fma
        case .avx512f: return .avx512f
        }
    }

    /// The table of ``KernelISA/selected``.
    static let selected = KernelTable.of(.selected)

    /// The name of the ISA a kernel of this table runs, for implementation labels.
    var isaLabel: String {
        switch isa {
        case .portable: return "portable"
        case .avx2fma: return "avx2+fma"
        case .avx512f: return "avx512f"
        }
    }
}
