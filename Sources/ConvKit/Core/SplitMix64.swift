/// SplitMix64 (Steele, Lea and Flood, 2014): a tiny, fast, seeded generator, so that every
/// benchmark run uses the same inputs and weights on every machine, and weight initialisation
/// without a weights file is deterministic (``WeightGenerator``).
///
/// Not for cryptography. Value type: copies continue independently from the same state.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// A generator starting from `seed` (any value, including 0).
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A float uniformly distributed in `[-1, 1)`, from the top 24 bits of one output
    /// (exactly representable, so identical on every platform).
    public mutating func nextSignedUnitFloat() -> Float {
        let bits = next() >> 40 // 24 bits
        return Float(bits) * (2.0 / 16_777_216.0) - 1.0
    }

    /// `count` floats uniform in `[-1, 1)`.
    public mutating func signedUnitFloats(count: Int) -> [Float] {
        var out = [Float](repeating: 0, count: count)
        for i in 0..<count { out[i] = nextSignedUnitFloat() }
        return out
    }
}
