/// A dense float32 tensor in NCHW layout (batch, channels, height, width), row-major.
///
/// Storage is owned, 64-byte aligned and copy-on-write: copies of a tensor share
/// storage until one of them is mutated. Element `(n, c, h, w)` lives at
/// `((n * C + c) * H + h) * W + w`.
///
/// To work on caller-owned memory without a copy, use the buffer-based
/// ``PreparedConvolution/execute(input:output:threads:)`` directly.
public struct Tensor: Sendable, Equatable {
    /// The shape `[N, C, H, W]`.
    public let shape: TensorShape
    @usableFromInline var storage: AlignedBuffer

    /// A zero-filled tensor.
    /// - Throws: ``ConvError`` for a non-positive dimension or an element count that overflows.
    public init(shape: TensorShape) throws {
        try shape.validate()
        self.shape = shape
        self.storage = AlignedBuffer(count: shape.count)
    }

    /// A zero-filled tensor of shape `[n, c, h, w]`.
    public init(n: Int, c: Int, h: Int, w: Int) throws {
        try self.init(shape: TensorShape(n: n, c: c, h: h, w: w))
    }

    /// A tensor holding `values` (row-major NCHW).
    /// - Throws: ``ConvError/shapeMismatch(what:expected:actual:)`` when the count differs.
    public init(shape: TensorShape, values: [Float]) throws {
        try shape.validate()
        guard values.count == shape.count else {
            throw ConvError.shapeMismatch(what: "tensor values", expected: [shape.count], actual: [values.count])
        }
        self.shape = shape
        self.storage = values.withUnsafeBufferPointer { AlignedBuffer(copying: $0) }
    }

    /// Number of elements.
    public var count: Int { shape.count }

    /// The elements in NCHW order.
    public var scalars: [Float] { Array(storage.buffer) }

    /// Element `(n, c, h, w)`. Indices out of range trap, as with `Array`.
    public subscript(n: Int, c: Int, h: Int, w: Int) -> Float {
        get { storage.base[shape.offset(n, c, h, w)] }
        set {
            let i = shape.offset(n, c, h, w)
            makeUnique()
            storage.base[i] = newValue
        }
    }

    /// Calls `body` with the elements; the pointer is valid only inside `body`.
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try withExtendedLifetime(storage) { try body(storage.buffer) }
    }

    /// Calls `body` with mutable elements (copying first if the storage is shared).
    public mutating func withUnsafeMutableBufferPointer<R>(
        _ body: (UnsafeMutableBufferPointer<Float>) throws -> R
    ) rethrows -> R {
        makeUnique()
        return try withExtendedLifetime(storage) { try body(storage.mutableBuffer) }
    }

    private mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) {
            storage = AlignedBuffer(copying: storage.buffer)
        }
    }

    public static func == (a: Tensor, b: Tensor) -> Bool {
        a.shape == b.shape && a.storage.buffer.elementsEqual(b.storage.buffer)
    }
}

/// The shape of an NCHW tensor.
public struct TensorShape: Hashable, Sendable, CustomStringConvertible {
    public var n: Int
    public var c: Int
    public var h: Int
    public var w: Int

    public init(n: Int, c: Int, h: Int, w: Int) {
        self.n = n; self.c = c; self.h = h; self.w = w
    }

    /// From `[N, C, H, W]`.
    /// - Throws: ``ConvError/shapeMismatch(what:expected:actual:)`` unless there are 4 dimensions.
    public init(_ dims: [Int]) throws {
        guard dims.count == 4 else {
            throw ConvError.invalidArgument("a tensor shape needs 4 dimensions (N, C, H, W), got \(dims.count): \(dims)")
        }
        self.init(n: dims[0], c: dims[1], h: dims[2], w: dims[3])
    }

    /// `[N, C, H, W]`.
    public var dims: [Int] { [n, c, h, w] }

    /// `N * C * H * W` (valid shapes only).
    public var count: Int { n * c * h * w }

    /// Throws unless every dimension is at least 1 and the element and byte counts fit in `Int`.
    public func validate() throws {
        for (name, v) in [("N", n), ("C", c), ("H", h), ("W", w)] where v < 1 {
            throw ConvError.nonPositive(parameter: "tensor dimension \(name)", value: v)
        }
        let count = try checkedMul(try checkedMul(try checkedMul(n, c, "tensor size"), h, "tensor size"), w,
                                   "tensor size")
        _ = try checkedMul(count, MemoryLayout<Float>.stride, "tensor bytes")
    }

    @inlinable
    func offset(_ i: Int, _ j: Int, _ y: Int, _ x: Int) -> Int {
        precondition(i >= 0 && i < n && j >= 0 && j < c && y >= 0 && y < h && x >= 0 && x < w,
                     "tensor index (\(i), \(j), \(y), \(x)) out of range for shape \(self)")
        return ((i * c + j) * h + y) * w + x
    }

    public var description: String { "\(n)x\(c)x\(h)x\(w)" }
}
