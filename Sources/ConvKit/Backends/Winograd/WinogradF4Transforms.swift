// Specialised F(4x4,3x3) transforms: Lavin and Gray's B^T and A^T written out as additions
// and small multiples, on SIMD8 vectors of 8 tiles (the generic transforms in
// WinogradConvolution+Transforms.swift multiply by every non-zero matrix entry instead).

extension WinogradConvolution {
    /// `B^T d` for one 6-vector (a column or a row of the patch).
    @inline(__always)
    static func inputF4(_ d0: V8, _ d1: V8, _ d2: V8, _ d3: V8, _ d4: V8, _ d5: V8)
        -> (V8, V8, V8, V8, V8, V8)
    {
        let four = V8(repeating: 4), five = V8(repeating: 5), two = V8(repeating: 2)
        let s12 = d1 + d2, s34 = d3 + d4, t43 = d4 - d3, t12 = d1 - d2
        let t42 = d4 - d2, t31 = d3 - d1
        return (four * d0 - five * d2 + d4,
                s34 - four * s12,
                t43 + four * t12,
                t42 + two * t31,
                t42 - two * t31,
                four * d1 - five * d3 + d5)
    }

    /// `A^T m` for one 6-vector.
    @inline(__always)
    static func outputF4(_ m0: V8, _ m1: V8, _ m2: V8, _ m3: V8, _ m4: V8, _ m5: V8) -> (V8, V8, V8, V8) {
        let p12 = m1 + m2, q12 = m1 - m2, p34 = m3 + m4, q34 = m3 - m4
        return (m0 + p12 + p34,
                q12 + V8(repeating: 2) * q34,
                p12 + V8(repeating: 4) * p34,
                q12 + V8(repeating: 8) * q34 + m5)
    }

    /// F(4x4) input transform of one channel of 8 tiles: `d` holds the 6x6 patch (row-major,
    /// SIMD8 over tiles); writes `V = B^T d B` through `store(position, value)`.
    @inline(__always)
    static func transformInputF4(_ d: UnsafeMutablePointer<V8>, _ store: (Int, V8) -> Void) {
        // Columns: d[., l] -> d[., l] transformed in place.
        for l in 0..<6 {
            let r = inputF4(d[l], d[6 + l], d[12 + l], d[18 + l], d[24 + l], d[30 + l])
            d[l] = r.0; d[6 + l] = r.1; d[12 + l] = r.2; d[18 + l] = r.3; d[24 + l] = r.4; d[30 + l] = r.5
        }
        // Rows.
        for i in 0..<6 {
            let row = d + 6 * i
            let r = inputF4(row[0], row[1], row[2], row[3], row[4], row[5])
            store(6 * i + 0, r.0); store(6 * i + 1, r.1); store(6 * i + 2, r.2)
            store(6 * i + 3, r.3); store(6 * i + 4, r.4); store(6 * i + 5, r.5)
        }
    }

    /// F(4x4) output transform of one output channel of 8 tiles: `load(p)` gives `M` at
    /// position `p`; writes the 4x4 result (row-major) into `y`.
    @inline(__always)
    static func transformOutputF4(_ load: (Int) -> V8, _ temp: UnsafeMutablePointer<V8>,
                                  _ y: UnsafeMutablePointer<V8>) {
        // Columns: 6x6 -> 4x6.
        for b in 0..<6 {
            let r = outputF4(load(b), load(6 + b), load(12 + b), load(18 + b), load(24 + b), load(30 + b))
            temp[b] = r.0; temp[6 + b] = r.1; temp[12 + b] = r.2; temp[18 + b] = r.3
        }
        // Rows: 4x6 -> 4x4.
        for i in 0..<4 {
            let row = temp + 6 * i
            let r = outputF4(row[0], row[1], row[2], row[3], row[4], row[5])
            y[4 * i] = r.0; y[4 * i + 1] = r.1; y[4 * i + 2] = r.2; y[4 * i + 3] = r.3
        }
    }
}
