import ConvKit
import Testing

/// Every error path of `Conv2DDescriptor.validate()`, and the messages of every `ConvError`.
@Suite("Errors")
struct ErrorsTests {
    /// A valid descriptor to break one field at a time.
    static let base = Conv2DDescriptor(
        batch: 2, inputChannels: 4, inputHeight: 8, inputWidth: 8, outputChannels: 6,
        kernelHeight: 3, kernelWidth: 3, padding: Padding(1), groups: 2)

    static var positiveFields: [(String, WritableKeyPath<Conv2DDescriptor, Int>)] { [
        ("batch", \.batch), ("input channels", \.inputChannels), ("input height", \.inputHeight),
        ("input width", \.inputWidth), ("output channels", \.outputChannels),
        ("kernel height", \.kernelHeight), ("kernel width", \.kernelWidth),
        ("stride height", \.strideHeight), ("stride width", \.strideWidth),
        ("dilation height", \.dilationHeight), ("dilation width", \.dilationWidth), ("groups", \.groups),
    ] }

    @Test("The base descriptor is valid")
    func baseIsValid() throws {
        try Self.base.validate()
    }

    @Test("Zero or negative sizes, strides, dilations and groups name the parameter and value",
          arguments: [0, -3])
    func nonPositive(value: Int) {
        for (name, path) in Self.positiveFields {
            var d = Self.base
            d[keyPath: path] = value
            let error = #expect(throws: ConvError.self) { try d.validate() }
            #expect(error == .nonPositive(parameter: name, value: value))
            #expect(error?.description == "\(name) must be at least 1, got \(value)")
            // The derived properties of an invalid descriptor do not trap either.
            _ = (d.fitsExactly, d.weightShape, d.outputShape, d.flops, d.description)
        }
    }

    @Test("Negative padding names the side and value")
    func negativePadding() {
        let sides: [(String, WritableKeyPath<Padding, Int>)] = [
            ("top", \.top), ("left", \.left), ("bottom", \.bottom), ("right", \.right)]
        for (side, path) in sides {
            var d = Self.base
            d.padding[keyPath: path] = -2
            let error = #expect(throws: ConvError.self) { try d.validate() }
            #expect(error == .negativePadding(side: side, value: -2))
            #expect(error?.description.contains("\(side)") == true)
            #expect(error?.description.contains("-2") == true)
        }
    }

    @Test("Groups must divide C and K")
    func groupsDoNotDivide() {
        var d = Self.base
        d.groups = 3  // divides K = 6, not C = 4
        var error = #expect(throws: ConvError.self) { try d.validate() }
        #expect(error == .groupsDoNotDivide(groups: 3, parameter: "input channels", value: 4))
        #expect(error?.description == "groups 3 must divide input channels 4")
        d.groups = 4  // divides C = 4, not K = 6
        error = #expect(throws: ConvError.self) { try d.validate() }
        #expect(error == .groupsDoNotDivide(groups: 4, parameter: "output channels", value: 6))
    }

    @Test("A dilated kernel larger than the padded input is refused, per axis")
    func kernelTooLarge() throws {
        var d = Self.base
        d.kernelHeight = 11  // padded height 8 + 2 = 10
        var error = #expect(throws: ConvError.self) { try d.validate() }
        #expect(error == .kernelLargerThanInput(axis: "height", effectiveKernel: 11, paddedInput: 10))
        #expect(error?.description.contains("11") == true && error?.description.contains("10") == true)
        d = Self.base
        d.dilationWidth = 5  // (3 - 1) * 5 + 1 = 11 > 10
        error = #expect(throws: ConvError.self) { try d.validate() }
        #expect(error == .kernelLargerThanInput(axis: "width", effectiveKernel: 11, paddedInput: 10))
        // Exactly as large as the padded input is fine: one output.
        d = Self.base
        d.kernelHeight = 10
        try d.validate()
        #expect(d.outputHeight == 1)
    }

    @Test("With .exact rounding an inexact fit is refused, per axis")
    func inexact() throws {
        var d = Self.base
        d.rounding = .exact
        d.strideHeight = 3  // (8 + 2 - 3) = 7, not a multiple of 3
        var error = #expect(throws: ConvError.self) { try d.validate() }
        #expect(error == .inexactFit(axis: "height", input: 8, effectiveKernel: 3, padding: 2, stride: 3))
        #expect(error?.description.contains("(8 - 3 + 2)/3 + 1 = 3.33") == true)
        d.strideHeight = 7  // exact again
        d.strideWidth = 2
        error = #expect(throws: ConvError.self) { try d.validate() }
        #expect(error == .inexactFit(axis: "width", input: 8, effectiveKernel: 3, padding: 2, stride: 2))
        d.rounding = .floor
        try d.validate()
    }

    @Test("Invalid clamp bounds are refused")
    func invalidActivation() {
        var d = Self.base
        d.activation = .clamp(min: 2, max: 1)
        var error = #expect(throws: ConvError.self) { try d.validate() }
        #expect(error?.description.contains("2.0") == true)
        d.activation = .clamp(min: .nan, max: 1)
        error = #expect(throws: ConvError.self) { try d.validate() }
        #expect(error == .invalidActivation("clamp bounds must not be NaN"))
    }

    @Test("Sizes whose element counts or FLOPs overflow Int are refused, not trapped")
    func overflow() {
        var d = Conv2DDescriptor(channels: 1, height: 1, width: 1, filters: 1, size: 1)
        d.batch = Int.max / 2
        d.inputChannels = 4
        d.outputChannels = 4
        var error = #expect(throws: ConvError.self) { try d.validate() }
        guard case .sizeOverflow? = error else {
            Issue.record("expected sizeOverflow, got \(String(describing: error))")
            return
        }
        // Huge padding overflows the padded size.
        d = Conv2DDescriptor(channels: 1, height: 3, width: 3, filters: 1, size: 1)
        d.padding = Padding(top: Int.max, left: 0, bottom: 1, right: 0)
        error = #expect(throws: ConvError.self) { try d.validate() }
        #expect(error == .sizeOverflow(what: "padded height", limit: "exceeds \(Int.max)"))
        // A huge dilation overflows the dilated kernel.
        d = Conv2DDescriptor(channels: 1, height: 3, width: 3, filters: 1, size: 3)
        d.dilationWidth = Int.max / 2 + 1
        error = #expect(throws: ConvError.self) { try d.validate() }
        #expect(error == .sizeOverflow(what: "dilated kernel width", limit: "exceeds \(Int.max)"))
        // FLOPs overflow even when every buffer fits.
        d = Conv2DDescriptor(channels: 1 << 20, height: 1 << 12, width: 1 << 12, filters: 1 << 20, size: 1)
        error = #expect(throws: ConvError.self) { try d.validate() }
        guard case .sizeOverflow? = error else {
            Issue.record("expected sizeOverflow, got \(String(describing: error))")
            return
        }
    }

    @Test("Every ConvError message names the offending value")
    func messages() {
        let cases: [(ConvError, [String])] = [
            (.shapeMismatch(what: "weights", expected: [4, 3, 3, 3], actual: [100]),
             ["weights", "[100]", "[4, 3, 3, 3]"]),
            (.bufferTooSmall(what: "output", required: 64, actual: 10), ["output", "64", "10"]),
            (.overlappingBuffers, ["overlap"]),
            (.unsupported(backend: "winograd", reason: "stride 2"), ["winograd", "unsupported", "stride 2"]),
            (.unavailable(backend: "onednn", reason: "libdnnl.so.2 not found"),
             ["onednn", "unavailable", "libdnnl.so.2"]),
            (.unknownBackend(name: "fast", known: ["reference", "auto"]), ["fast", "reference, auto"]),
            (.backendFailure(backend: "onednn", operation: "execute", status: "dnnl_runtime_error"),
             ["onednn", "execute", "dnnl_runtime_error"]),
            (.invalidFile(path: "x.npy", reason: "bad magic"), ["x.npy", "bad magic"]),
            (.sizeOverflow(what: "output size", limit: "exceeds 9"), ["output size", "exceeds 9"]),
            (.invalidArgument("threads must be positive"), ["threads must be positive"]),
        ]
        for (error, fragments) in cases {
            for fragment in fragments {
                #expect(error.description.contains(fragment), "\(error.description) lacks \(fragment)")
            }
            #expect(!error.description.contains("\n"))
        }
    }
}
