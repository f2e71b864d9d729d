import ConvKit
import Testing

@Suite("Tensor")
struct TensorTests {
    @Test("A new tensor is zero-filled, 64-byte aligned, with the shape asked for")
    func zeros() throws {
        let t = try Tensor(n: 2, c: 3, h: 4, w: 5)
        #expect(t.shape == TensorShape(n: 2, c: 3, h: 4, w: 5))
        #expect(t.shape.dims == [2, 3, 4, 5])
        #expect(t.count == 120)
        #expect(t.scalars == [Float](repeating: 0, count: 120))
        t.withUnsafeBufferPointer { buffer in
            #expect(buffer.count == 120)
            #expect(Int(bitPattern: buffer.baseAddress) % 64 == 0)
        }
        #expect(t.shape.description == "2x3x4x5")
    }

    @Test("Shapes are validated: non-positive dimensions, overflow, wrong rank, wrong value count")
    func shapeValidation() {
        var error = #expect(throws: ConvError.self) { try Tensor(n: 1, c: 0, h: 4, w: 4) }
        #expect(error == .nonPositive(parameter: "tensor dimension C", value: 0))
        error = #expect(throws: ConvError.self) { try Tensor(n: 1, c: 1, h: -2, w: 4) }
        #expect(error == .nonPositive(parameter: "tensor dimension H", value: -2))
        error = #expect(throws: ConvError.self) { try Tensor(n: Int.max / 2, c: 4, h: 1, w: 1) }
        guard case .sizeOverflow? = error else {
            Issue.record("expected sizeOverflow, got \(String(describing: error))")
            return
        }
        // The element count fits but the byte count does not.
        error = #expect(throws: ConvError.self) { try Tensor(n: Int.max / 4 + 1, c: 1, h: 1, w: 1) }
        #expect(error == .sizeOverflow(what: "tensor bytes", limit: "exceeds \(Int.max)"))
        error = #expect(throws: ConvError.self) { try TensorShape([1, 2, 3]) }
        #expect(error?.description.contains("4 dimensions") == true)
        error = #expect(throws: ConvError.self) {
            try Tensor(shape: TensorShape(n: 1, c: 1, h: 2, w: 2), values: [1, 2, 3])
        }
        #expect(error == .shapeMismatch(what: "tensor values", expected: [4], actual: [3]))
    }

    @Test("Subscripts address ((n * C + c) * H + h) * W + w")
    func subscripts() throws {
        let shape = TensorShape(n: 2, c: 3, h: 4, w: 5)
        var t = try Tensor(shape: shape, values: (0..<shape.count).map(Float.init))
        for n in 0..<2 {
            for c in 0..<3 {
                for h in 0..<4 {
                    for w in 0..<5 {
                        #expect(t[n, c, h, w] == Float(((n * 3 + c) * 4 + h) * 5 + w))
                    }
                }
            }
        }
        t[1, 2, 3, 4] = -1
        #expect(t.scalars.last == -1)
        t[0, 0, 0, 1] = 42
        #expect(t.scalars[1] == 42)
    }

    @Test("Copies share storage until one is mutated (copy-on-write)")
    func copyOnWrite() throws {
        let original = try Tensor(shape: TensorShape(n: 1, c: 1, h: 2, w: 2), values: [1, 2, 3, 4])
        var copy = original
        let sharedBefore = original.withUnsafeBufferPointer { a in copy.withUnsafeBufferPointer { b in
            a.baseAddress == b.baseAddress } }
        #expect(sharedBefore)
        copy[0, 0, 1, 1] = 40
        #expect(original.scalars == [1, 2, 3, 4])
        #expect(copy.scalars == [1, 2, 3, 40])
        var third = copy
        third.withUnsafeMutableBufferPointer { $0[0] = -1 }
        #expect(copy.scalars == [1, 2, 3, 40])
        #expect(third.scalars == [-1, 2, 3, 40])
        // A uniquely referenced tensor is mutated in place.
        var unique = try Tensor(n: 1, c: 1, h: 1, w: 3)
        let before = unique.withUnsafeBufferPointer { $0.baseAddress }
        unique[0, 0, 0, 2] = 5
        let after = unique.withUnsafeBufferPointer { $0.baseAddress }
        #expect(before == after)
    }

    @Test("Equality compares shapes and values")
    func equality() throws {
        let a = try Tensor(shape: TensorShape(n: 1, c: 1, h: 2, w: 2), values: [1, 2, 3, 4])
        let b = try Tensor(shape: TensorShape(n: 1, c: 1, h: 2, w: 2), values: [1, 2, 3, 4])
        let c = try Tensor(shape: TensorShape(n: 1, c: 1, h: 1, w: 4), values: [1, 2, 3, 4])
        var d = b
        d[0, 0, 0, 0] = 0
        #expect(a == b)
        #expect(a != c)
        #expect(a != d)
    }

    @Test("TensorShape from an array")
    func shapeFromArray() throws {
        let s = try TensorShape([2, 3, 4, 5])
        #expect(s.n == 2 && s.c == 3 && s.h == 4 && s.w == 5)
        #expect(s.count == 120)
        try s.validate()
    }
}
