/// The deterministic generator behind weight initialisation without a weights file.
///
/// Generator: SplitMix64 (Steele, Lea and Flood 2014; the constants of Java's
/// `SplittableRandom`). Each uniform float in `[0, 1)` is the top 24 bits of one 64-bit draw
/// divided by 2^24. A model seeds one generator per layer with
/// ``forLayer(seed:index:)``, so a layer's initial weights depend only on the seed and the
/// layer's position, not on the other layers.
///
/// He initialisation (He et al. 2015), uniform variant as PyTorch's `kaiming_uniform_` with
/// gain sqrt(2): weights uniform in `[-b, b]` with `b = sqrt(6 / fanIn)` (variance
/// `2 / fanIn`), where fanIn is `C/groups * R * S` for a convolution and `in` for a fully
/// connected layer. Biases start at 0; BatchNorm starts as the identity (weight 1, bias 0,
/// running mean 0, running variance 1).
public struct WeightGenerator: Sendable {
    private var random: SplitMix64

    /// A generator whose first draw follows from `seed`.
    public init(seed: UInt64) { random = SplitMix64(seed: seed) }

    /// The generator a model uses for the layer at `index` (0-based).
    public static func forLayer(seed: UInt64, index: Int) -> WeightGenerator {
        // One SplitMix64 step of (seed + index * golden gamma) seeds the layer's stream.
        var g = WeightGenerator(seed: seed &+ UInt64(index) &* 0xD1B5_4A32_D192_ED03)
        return WeightGenerator(seed: g.next())
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 { random.next() }

    /// A float uniform in `[0, 1)`.
    public mutating func nextUnit() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

    /// `count` He-uniform weights for fan-in `fanIn`.
    public mutating func heUniform(count: Int, fanIn: Int) -> [Float] {
        let bound = (6.0 / Float(Swift.max(fanIn, 1))).squareRoot()
        var values = [Float](repeating: 0, count: count)
        for i in 0..<count { values[i] = (nextUnit() * 2 - 1) * bound }
        return values
    }
}
