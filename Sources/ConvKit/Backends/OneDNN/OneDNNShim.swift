import CDNNLShim

/// The one place ConvKit calls into CDNNLShim (and through it, oneDNN).
///
/// Every C call, every status check and every conversion of a shim status into a
/// ``ConvError`` lives here, in the style of swift-system's `Syscalls.swift`. Handles are
/// opaque pointers owned by ``OneDNNConvolutionHandle``; unsafe pointers never escape
/// the closures that provide them.
enum OneDNNShim {
    static let backendName = "onednn"

    /// Loads oneDNN on the first call (thread-safe) and says whether it is usable.
    static var availability: BackendAvailability {
        if let reason = unavailableReason { return .unavailable(reason: reason) }
        return .available
    }

    /// Why oneDNN is unusable, or nil when it is usable.
    static var unavailableReason: String? {
        if ck_dnnl_is_available() != 0 { return nil }
        return ck_dnnl_unavailable_reason().map { String(cString: $0) } ?? "unknown reason"
    }

    /// The loaded library's version ("2.6.3"), or nil when unavailable.
    static var libraryVersion: String? {
        ck_dnnl_library_version().map { String(cString: $0) }
    }

    /// The reason the value `value` of `CONVKIT_DISABLE_ONEDNN` disables oneDNN, or nil.
    static func disabledReason(environmentValue value: String?) -> String? {
        let reason: UnsafePointer<CChar>?
        if let value {
            reason = value.withCString { ck_dnnl_disabled_reason($0) }
        } else {
            reason = ck_dnnl_disabled_reason(nil)
        }
        return reason.map { String(cString: $0) }
    }

    /// The name of a shim status: oneDNN's `dnnl_status_t` names, or the shim's own.
    static func statusName(_ status: Int32) -> String {
        let name = String(cString: ck_dnnl_status_name(status))
        return name == "unknown status" ? "unknown status \(status)" : name
    }

    /// The typed error for a failed shim call.
    ///
    /// `dnnl_unimplemented` from creating the convolution's primitive descriptor means oneDNN
    /// has no implementation for the descriptor: ``ConvError/unsupported(backend:reason:)``.
    /// The shim's "unavailable" status becomes ``ConvError/unavailable(backend:reason:)``;
    /// everything else ``ConvError/backendFailure(backend:operation:status:)``.
    static func convError(status: Int32, operation: String) -> ConvError {
        let name = statusName(status)
        if status == Int32(CK_DNNL_STATUS_UNAVAILABLE) {
            return .unavailable(backend: backendName, reason: unavailableReason ?? "unknown reason")
        }
        if operation == "dnnl_primitive_desc_create(convolution)" && name == "dnnl_unimplemented" {
            return .unsupported(backend: backendName,
                                reason: "oneDNN has no implementation for it (\(operation) returned \(name))")
        }
        return .backendFailure(backend: backendName, operation: operation, status: name)
    }

    /// Runs a shim call that reports through a `ck_dnnl_error`, throwing its typed error.
    private static func check(_ body: (UnsafeMutablePointer<ck_dnnl_error>) -> Int32) throws {
        var error = ck_dnnl_error(status: 0, operation: nil)
        let status = body(&error)
        if status != 0 {
            let operation = error.operation.map { String(cString: $0) } ?? "CDNNLShim"
            throw convError(status: status, operation: operation)
        }
    }

    /// The shim's parameter block for `d` (which must be valid).
    static func parameters(for d: Conv2DDescriptor) -> ck_dnnl_conv_params {
        var p = ck_dnnl_conv_params()
        p.batch = Int64(d.batch)
        p.channels = Int64(d.inputChannels)
        p.height = Int64(d.inputHeight)
        p.width = Int64(d.inputWidth)
        p.filters = Int64(d.outputChannels)
        p.kernel_h = Int64(d.kernelHeight)
        p.kernel_w = Int64(d.kernelWidth)
        p.stride_h = Int64(d.strideHeight)
        p.stride_w = Int64(d.strideWidth)
        p.pad_top = Int64(d.padding.top)
        p.pad_left = Int64(d.padding.left)
        p.pad_bottom = Int64(d.padding.bottom)
        p.pad_right = Int64(d.padding.right)
        p.dilation_h = Int64(d.dilationHeight)
        p.dilation_w = Int64(d.dilationWidth)
        p.groups = Int64(d.groups)
        p.out_h = Int64(d.outputHeight)
        p.out_w = Int64(d.outputWidth)
        p.has_bias = d.hasBias ? 1 : 0
        switch d.activation {
        case .none:
            p.activation = Int32(CK_DNNL_ACTIVATION_NONE)
        case .relu:
            p.activation = Int32(CK_DNNL_ACTIVATION_RELU)
        case let .clamp(lo, hi):
            p.activation = Int32(CK_DNNL_ACTIVATION_CLAMP)
            p.activation_min = lo
            p.activation_max = hi
        }
        return p
    }

    /// Creates a convolution (layouts chosen, weights reordered, primitives for `threads`).
    /// `weights` and `bias` must already be checked against `descriptor`.
    static func createConvolution(_ descriptor: Conv2DDescriptor, weights: UnsafeBufferPointer<Float>,
                                  bias: UnsafeBufferPointer<Float>?, threads: Int) throws -> OpaquePointer {
        var params = parameters(for: descriptor)
        var conv: OpaquePointer?
        try check { error in
            ck_dnnl_conv_create(&params, weights.baseAddress, descriptor.hasBias ? bias?.baseAddress : nil,
                                Int32(clamping: threads), &conv, error)
        }
        guard let conv else {
            throw ConvError.backendFailure(backend: backendName, operation: "ck_dnnl_conv_create",
                                           status: "no convolution returned")
        }
        return conv
    }

    /// The primitives of `conv` for `threads`, created on first use.
    static func variant(of conv: OpaquePointer, threads: Int) throws -> OpaquePointer {
        var variant: OpaquePointer?
        try check { error in ck_dnnl_conv_variant(conv, Int32(clamping: threads), &variant, error) }
        guard let variant else {
            throw ConvError.backendFailure(backend: backendName, operation: "ck_dnnl_conv_variant",
                                           status: "no variant returned")
        }
        return variant
    }

    static func destroy(_ conv: OpaquePointer) {
        ck_dnnl_conv_destroy(conv)
    }

    static func implementation(of conv: OpaquePointer) -> String {
        String(cString: ck_dnnl_conv_implementation(conv))
    }

    static func workspaceBytes(of conv: OpaquePointer) -> Int {
        Int(clamping: ck_dnnl_conv_workspace_bytes(conv))
    }

    /// NCHW in, NCHW out. The caller has checked the buffer sizes.
    static func execute(_ variant: OpaquePointer, input: UnsafePointer<Float>,
                        output: UnsafeMutablePointer<Float>) throws {
        try check { error in ck_dnnl_variant_execute(variant, input, output, error) }
    }

    /// Only the convolution primitive, on the internal buffers.
    static func executeCore(_ variant: OpaquePointer) throws {
        try check { error in ck_dnnl_variant_execute_core(variant, error) }
    }
}
