import Foundation

/// Local response normalisation across channels (type name `lrn`), as AlexNet, ZFNet and
/// GoogLeNet use it; the definition of ONNX's `LRN` and PyTorch's `LocalResponseNorm`:
///
/// `y[c] = x[c] / (bias + alpha / size * sum(x[i]^2))^beta` over the channels
/// `max(0, c - (size - 1) / 2) <= i <= min(C - 1, c + ceil((size - 1) / 2))`.
///
/// Defaults: `alpha` 1e-4, `beta` 0.75, `bias` 1; `size` is required. The sum is accumulated
/// in Double per pixel along a sliding window over the channels. FLOPs: about `2 * size + 3`
/// per element (an approximation).
public final class LocalResponseNorm: Layer, PreparedLayer {
    public let name: String
    public var typeName: String { "lrn" }
    public let size: Int
    public let alpha: Float, beta: Float, bias: Float

    /// - Throws: ``ConvError`` for `size < 1`, a non-finite `alpha`, `beta` or `bias`, or a
    ///   non-positive `bias` (the base of the power must stay positive).
    public init(name: String, size: Int, alpha: Float = 1e-4, beta: Float = 0.75, bias: Float = 1) throws {
        if size < 1 { throw ConvError.nonPositive(parameter: "lrn size", value: size) }
        guard alpha.isFinite, beta.isFinite, bias.isFinite, bias > 0, alpha >= 0 else {
            throw ConvError.invalidArgument("lrn '\(name)': alpha \(alpha) must be finite and >= 0, beta \(beta) finite, bias \(bias) finite and > 0")
        }
        self.name = name
        self.size = size
        self.alpha = alpha; self.beta = beta; self.bias = bias
    }

    public func outputShape(for input: TensorShape) throws -> TensorShape { input }
    public func flops(for input: TensorShape) -> Int { (2 * size + 3) * input.count }
    public var configuration: [String: JSONValue]? {
        ["size": .number(Double(size)), "alpha": .number(Double(alpha)), "beta": .number(Double(beta)),
         "bias": .number(Double(bias))]
    }

    public func forward(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                        shape: TensorShape, threads: Int) throws {
        let c = shape.c, plane = shape.h * shape.w
        let before = (size - 1) / 2, after = size - 1 - before
        let scale = Double(alpha) / Double(size), b = Double(bias), e = Double(beta)
        // One item per (sample, pixel row of 64 pixels): each walks the channels once.
        let chunk = 64
        let chunks = (plane + chunk - 1) / chunk
        ParallelFor.run(items: shape.n * chunks, threads: ThreadPolicy.threads(requested: threads, elements: 2 * shape.count)) { _, range in
            var sums = [Double](repeating: 0, count: chunk)
            for item in range {
                let s = item / chunks, p0 = (item % chunks) * chunk, count = Swift.min(chunk, plane - p0)
                let x = input + s * c * plane + p0, y = output + s * c * plane + p0
                for i in 0..<count { sums[i] = 0 }
                // The window for channel 0 holds channels 0...after.
                for k in 0..<Swift.min(after, c - 1) + 1 where k < c {
                    for i in 0..<count { let v = Double(x[k * plane + i]); sums[i] += v * v }
                }
                for ch in 0..<c {
                    for i in 0..<count {
                        y[ch * plane + i] = Float(Double(x[ch * plane + i]) / Foundation.pow(b + scale * Swift.max(sums[i], 0), e))
                    }
                    // Slide: add channel ch + after + 1, drop channel ch - before.
                    let enter = ch + after + 1, leave = ch - before
                    if enter < c { for i in 0..<count { let v = Double(x[enter * plane + i]); sums[i] += v * v } }
                    if leave >= 0 { for i in 0..<count { let v = Double(x[leave * plane + i]); sums[i] -= v * v } }
                }
            }
        }
    }
}
