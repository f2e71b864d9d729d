import Foundation

/// Softmax over each sample's `C*H*W` values (type name `softmax`), numerically stable:
/// `y_i = exp(x_i - max) / sum_j exp(x_j - max)`, so large inputs never overflow. The sum is
/// accumulated in Double. A NaN input makes the sample all NaN. FLOPs: 3 per element (an
/// approximation counting the subtraction, exponential and division).
public final class Softmax: Layer, PreparedLayer {
    public let name: String
    public var typeName: String { "softmax" }

    public init(name: String) { self.name = name }

    public func outputShape(for input: TensorShape) throws -> TensorShape { input }
    public func flops(for input: TensorShape) -> Int { 3 * input.count }

    public func forward(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                        shape: TensorShape, threads: Int) throws {
        let size = shape.c * shape.h * shape.w
        ParallelFor.run(items: shape.n, threads: ThreadPolicy.threads(requested: threads, elements: 2 * shape.count)) { _, range in
            for s in range {
                let x = input + s * size, y = output + s * size
                var m = -Float.infinity
                var nan = false
                for i in 0..<size {
                    if x[i] > m { m = x[i] }
                    nan = nan || x[i].isNaN
                }
                if nan || m == .infinity {
                    // +inf inputs: the inf positions share the mass; NaN poisons the sample.
                    let infs = nan ? 0 : (0..<size).reduce(0) { $0 + (x[$1] == .infinity ? 1 : 0) }
                    for i in 0..<size { y[i] = nan ? .nan : (x[i] == .infinity ? 1 / Float(infs) : 0) }
                    continue
                }
                var sum = 0.0
                for i in 0..<size {
                    let e = expf(x[i] - m)
                    y[i] = e
                    sum += Double(e)
                }
                let inv = Float(1 / sum)
                for i in 0..<size { y[i] *= inv }
            }
        }
    }
}
