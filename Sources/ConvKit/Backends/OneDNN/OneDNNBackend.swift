import Foundation

/// Intel's oneDNN 2.x (`libdnnl`), behind the same ``ConvBackend`` protocol as ConvKit's
/// own backends: the reference point for what a production library reaches.
///
/// Optional and automatic: where the oneDNN 2.x headers (`libdnnl-dev`) existed at build
/// time, ConvKit loads `libdnnl.so.2` at run time on first use; nothing is linked and no
/// build flag is needed. Otherwise ``availability`` is `.unavailable` with the reason
/// (headers missing at build time, library not loadable, wrong version), and so is
/// setting the environment variable `CONVKIT_DISABLE_ONEDNN` to a non-empty value other
/// than `0` (read once per process, on first use).
///
/// Everything a ``Conv2DDescriptor`` can express is supported: f32 forward inference,
/// bias, strides, asymmetric padding, dilation, groups and depthwise, and ReLU or clamp
/// fused as a oneDNN eltwise post-op. oneDNN picks the layouts (on AVX2 typically
/// `nChw8c` activations and `OIhw8i8o` weights; plain NCHW for the input of first layers)
/// and the kernel; ``PreparedConvolution/implementation`` reports its `impl_info_str`
/// (for example `jit:avx2`).
///
/// Prepare creates the primitive descriptor, reorders the weights once into the chosen
/// layout and creates the reorder and convolution primitives for the default thread count
/// (``ConvKit/defaultThreadCount``). Execute takes NCHW and returns NCHW: reorder the
/// input into oneDNN's layout, run the convolution, reorder the output back.
///
/// Threads: oneDNN's OpenMP build has no per-call thread count and fixes a kernel's thread
/// partitioning when its primitive is created. So a prepared oneDNN convolution keeps one
/// set of primitives per thread count, each created with OpenMP's thread count set to it,
/// and sets that count on the calling thread (restoring it after) around every call. The
/// first `execute` with a thread count other than the default pays primitive creation
/// (JIT compilation, typically milliseconds). Results may differ in the last bits
/// between thread counts (oneDNN's own rules).
///
/// Errors: every oneDNN status other than success becomes
/// ``ConvError/backendFailure(backend:operation:status:)`` naming the call and the status
/// (for example `dnnl_out_of_memory`); a descriptor oneDNN has no implementation for
/// becomes ``ConvError/unsupported(backend:reason:)``.
public struct OneDNNBackend: ConvBackend {
    /// The environment variable that disables this backend when set (to anything but `0`).
    public static let disableEnvironmentVariable = "CONVKIT_DISABLE_ONEDNN"

    public init() {}

    public var name: String { OneDNNShim.backendName }
    public var summary: String {
        "Intel oneDNN 2.x JIT convolutions (libdnnl, loaded at run time)"
    }

    /// `.available` when oneDNN 2.x was found and loaded; else why not. The first call
    /// loads the library (thread-safe).
    public var availability: BackendAvailability { OneDNNShim.availability }

    /// The loaded oneDNN version (for example `2.6.3`), or nil when unavailable.
    public static var libraryVersion: String? { OneDNNShim.libraryVersion }

    /// Supported whenever oneDNN is available: it implements everything a descriptor can say.
    public func support(for descriptor: Conv2DDescriptor) -> BackendSupport {
        if let reason = OneDNNShim.unavailableReason { return .unsupported(reason: "oneDNN unavailable: \(reason)") }
        return .supported
    }

    /// Validates, creates the oneDNN primitives for ``ConvKit/defaultThreadCount`` threads
    /// and reorders the weights (`K x C/groups x R x S`, OIHW) into oneDNN's layout.
    /// - Throws: ``ConvError/unavailable(backend:reason:)`` when oneDNN is not usable, the
    ///   errors of ``Conv2DDescriptor/validate()`` and of mis-sized weights or bias,
    ///   ``ConvError/unsupported(backend:reason:)`` or
    ///   ``ConvError/backendFailure(backend:operation:status:)`` from oneDNN.
    public func prepare(_ descriptor: Conv2DDescriptor, weights: UnsafeBufferPointer<Float>,
                        bias: UnsafeBufferPointer<Float>?) throws -> any PreparedConvolution {
        if let reason = OneDNNShim.unavailableReason {
            throw ConvError.unavailable(backend: name, reason: reason)
        }
        try checkWeightsAndBias(descriptor, weights: weights, bias: bias)
        try checkAccumulation(descriptor, self)
        return try OneDNNPreparedConvolution(descriptor: descriptor, weights: weights, bias: bias,
                                             threads: ConvKit.defaultThreadCount)
    }
}

@_spi(Testing)
extension OneDNNBackend {
    /// The reason `CONVKIT_DISABLE_ONEDNN=value` disables the backend, or nil when that
    /// value does not (nil, empty and `0` do not). For tests of the disabled path.
    public static func disabledReason(environmentValue value: String?) -> String? {
        OneDNNShim.disabledReason(environmentValue: value)
    }

    /// The name of a shim status code (`0...6` are oneDNN's `dnnl_status_t`).
    public static func statusName(_ status: Int32) -> String {
        OneDNNShim.statusName(status)
    }

    /// The error a failed oneDNN call `operation` with `status` is reported as.
    public static func error(status: Int32, operation: String) -> ConvError {
        OneDNNShim.convError(status: status, operation: operation)
    }
}

/// A convolution prepared by oneDNN: the weights in oneDNN's layout, the intermediate
/// (blocked) buffers, and one set of primitives per thread count.
///
/// Concurrency: `execute` may be called from several threads at once, but calls on the
/// same prepared convolution are serialized (its intermediate buffers and oneDNN memory
/// objects are shared); each call runs on a oneDNN stream of the calling thread. Prepare
/// one convolution per thread to run them in parallel.
final class OneDNNPreparedConvolution: LayoutConvertingConvolution, @unchecked Sendable {
    let descriptor: Conv2DDescriptor
    let implementation: String
    let workspaceBytes: Int
    var backendName: String { OneDNNShim.backendName }

    /// Guards `variants` and every use of `conv` after init.
    private let lock = NSLock()
    private let conv: OpaquePointer
    private var variants: [Int: OpaquePointer]

    init(descriptor: Conv2DDescriptor, weights: UnsafeBufferPointer<Float>, bias: UnsafeBufferPointer<Float>?,
         threads: Int) throws {
        let threads = max(threads, 1)
        self.descriptor = descriptor
        conv = try OneDNNShim.createConvolution(descriptor, weights: weights, bias: bias, threads: threads)
        do {
            variants = [threads: try OneDNNShim.variant(of: conv, threads: threads)]
        } catch {
            OneDNNShim.destroy(conv)
            throw error
        }
        implementation = OneDNNShim.implementation(of: conv)
        workspaceBytes = OneDNNShim.workspaceBytes(of: conv)
    }

    deinit {
        OneDNNShim.destroy(conv)
    }

    /// The primitives for `threads`, created on first use. Call with `lock` held.
    private func variant(threads: Int) throws -> OpaquePointer {
        if let v = variants[threads] { return v }
        let v = try OneDNNShim.variant(of: conv, threads: threads)
        variants[threads] = v
        return v
    }

    func execute(input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>,
                 threads: Int?) throws {
        let threads = try checkedExecutionArguments(input: input, output: output, threads: threads)
        // Non-nil: the checks above guarantee at least one element in each buffer.
        guard let x = input.baseAddress, let y = output.baseAddress else {
            throw ConvError.invalidArgument("input and output buffers must not be empty")
        }
        lock.lock(); defer { lock.unlock() }
        try OneDNNShim.execute(try variant(threads: threads), input: x, output: y)
    }

    /// Runs only oneDNN's convolution primitive on the internal buffers (blocked layout),
    /// without the NCHW reorders. Where oneDNN reads or writes NCHW directly, it runs on
    /// buffers of its own (allocated on the first call) instead of the caller's.
    func executeCoreOnly(threads: Int?) throws {
        let threads = threads ?? ConvKit.defaultThreadCount
        if threads < 1 { throw ConvError.nonPositive(parameter: "threads", value: threads) }
        lock.lock(); defer { lock.unlock() }
        try OneDNNShim.executeCore(try variant(threads: threads))
    }
}
