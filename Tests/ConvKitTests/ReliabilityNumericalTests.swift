import ConvKit
import Foundation
import Testing

/// NaN and infinity propagate as IEEE arithmetic says, denormals do not slow execution by
/// orders of magnitude, and large magnitudes do not overflow where the reference does not.
///
/// What is asserted for NaN/infinity:
/// - exact backends (direct GEMM and depthwise, oneDNN, reference): the same NaN pattern as
///   the reference and the same infinities, element for element;
/// - Winograd: every output the reference makes NaN or infinite is non-finite too (nothing is
///   hidden). A Winograd tile mixes its whole input patch into every output of the tile
///   (`A^T [(G g G^T) . (B^T d B)] A`), so one NaN or infinity in the patch makes the whole
///   output tile non-finite (an infinity usually becomes NaN through `inf - inf`): correct
///   IEEE arithmetic for that algorithm, but a wider pattern than direct convolution's.
///   Outputs outside the affected tiles are finite and accurate.
@Suite("Reliability: numerical edge cases")
struct ReliabilityNumericalTests {
    static var paths: [ReliabilityPath] {
        let plainOneDNN = OneDNNBackend().availability.isAvailable ? [ReliabilityPath(
            label: "onednn (no activation)", backend: OneDNNBackend(),
            descriptor: Conv2DDescriptor(channels: 12, height: 19, width: 21, filters: 20, size: 3, stride: 2, pad: 1))]
            : []
        return ReliabilityPath.all + plainOneDNN + [WinogradTile.f2x3, WinogradTile.f6x3].map { (tile: WinogradTile) in
            ReliabilityPath(label: "winograd \(tile)", backend: WinogradBackend(tile: tile),
                            descriptor: Conv2DDescriptor(channels: 6, height: 14, width: 13, filters: 7, size: 3,
                                                         pad: 1, activation: .relu))
        }
    }

    @Test("NaN, +infinity and -infinity in the input propagate like the reference", arguments: paths)
    func nonFinitePropagates(_ path: ReliabilityPath) throws {
        let d = path.descriptor
        let base = ConvCase(d, seed: 17)
        var x = base.input
        let plane = d.inputHeight * d.inputWidth
        x[plane / 3] = .nan                                   // channel 0
        x[plane + plane / 2 + 1] = .infinity                  // channel 1
        x[(d.inputChannels - 1) * plane + plane - 2] = -.infinity   // last channel, bottom right
        let c = ConvCase(descriptor: d, input: x, weights: base.weights, bias: base.bias)
        let ref = try c.reference()
        let y = try c.run(path.backend, threads: 2)
        #expect(ref.contains { $0.isNaN } || ref.contains { $0.isInfinite }, "the case must produce non-finite outputs")
        if path.backend.name == "winograd" {
            let hidden = y.indices.filter { !ref[$0].isFinite && y[$0].isFinite }
            #expect(hidden.isEmpty, "\(path.label): \(hidden.count) non-finite reference outputs are finite")
            let extra = y.indices.filter { ref[$0].isFinite && !y[$0].isFinite }.count
            // Winograd spreads a non-finite input over whole tiles: more non-finite outputs, but
            // never more than the tiles that hold a non-finite reference output.
            #expect(extra <= 64 * ref.filter { !$0.isFinite }.count, "\(path.label): \(extra) extra non-finite outputs")
            // Elsewhere, the usual accuracy.
            let both = y.indices.filter { ref[$0].isFinite && y[$0].isFinite }
            let err = normalizedMaxError(both.map { y[$0] }, both.map { ref[$0] })
            #expect(err <= 1e-3, "\(path.label): finite outputs error \(err)")
            #expect(both.count > y.count / 3, "\(path.label): most outputs stay finite")
        } else if path.backend.name == "onednn" && d.activation != .none {
            // oneDNN's eltwise ReLU/clamp post-op (vmaxps/vminps with the bound as second
            // operand) turns NaN into the bound: a oneDNN behaviour, not fixable in the wrapper.
            let hidden = y.indices.filter { ref[$0].isNaN && !y[$0].isNaN }
            withKnownIssue("oneDNN's fused ReLU/clamp maps NaN to the bound") {
                #expect(hidden.isEmpty, "onednn: \(hidden.count) NaN outputs hidden by the post-op")
            }
        } else {
            let nanDiffers = y.indices.filter { y[$0].isNaN != ref[$0].isNaN }
            #expect(nanDiffers.isEmpty, "\(path.label): NaN pattern differs at \(nanDiffers.prefix(10))")
            let infDiffers = y.indices.filter { (y[$0].isInfinite || ref[$0].isInfinite) && y[$0] != ref[$0] }
            let examples = infDiffers.prefix(3).map { "\(y[$0]) vs \(ref[$0])" }
            #expect(infDiffers.isEmpty, "\(path.label): infinities differ at \(infDiffers.prefix(10)): \(examples)")
            #expect(normalizedMaxError(y, ref) <= 1e-5, "\(path.label)")
        }
    }

    @Test("a NaN weight or bias is not hidden", arguments: ReliabilityPath.all)
    func nanWeightsPropagate(_ path: ReliabilityPath) throws {
        let d = path.descriptor
        let base = ConvCase(d, seed: 18)
        var w = base.weights
        w[0] = .nan                           // output channel 0
        var b = base.bias
        if b != nil, d.outputChannels > 1 { b![d.outputChannels - 1] = .nan }   // last channel
        let c = ConvCase(descriptor: d, input: base.input, weights: w, bias: b)
        let ref = try c.reference()
        let y = try c.run(path.backend, threads: 1)
        let hidden = y.indices.filter { ref[$0].isNaN && !y[$0].isNaN }
        if path.backend.name == "onednn" && d.activation != .none {
            withKnownIssue("oneDNN's fused ReLU/clamp maps NaN to the bound") {
                #expect(hidden.isEmpty, "onednn: \(hidden.count) NaN outputs hidden by the post-op")
            }
        } else {
            #expect(hidden.isEmpty, "\(path.label): \(hidden.count) NaN outputs of the reference are not NaN")
        }
        // The converse does not hold exactly: the reference skips padded taps, while backends
        // that read materialised zero padding compute 0 * NaN = NaN there (IEEE), so a NaN
        // weight also reaches border outputs whose window covers padding. Those extra NaNs
        // are confined to the channel of the NaN weight or bias.
        let extra = y.indices.filter { y[$0].isNaN && !ref[$0].isNaN }
        let plane = d.outputHeight * d.outputWidth
        #expect(extra.allSatisfy { ($0 / plane) % d.outputChannels == 0 }, "\(path.label): NaN outside channel 0")
        if d.activation == .none, path.backend.name == "onednn" || path.backend.name == "reference" {
            #expect(extra.isEmpty, "\(path.label): extra NaNs")
        }
    }

    @Test("inputs and weights of magnitude 1e18 do not overflow where the reference does not",
          arguments: paths)
    func largeMagnitudes(_ path: ReliabilityPath) throws {
        let d = path.descriptor
        let base = ConvCase(d, seed: 19)
        let c = ConvCase(descriptor: d, input: base.input.map { $0 * 1e18 }, weights: base.weights.map { $0 * 1e18 },
                         bias: base.bias?.map { $0 * 1e36 })
        let ref = try c.reference()
        // The case is sized so that the exact results fit in Float (up to C*R*S*1e36 < 3.4e38).
        #expect(ref.allSatisfy { $0.isFinite }, "\(path.label): the reference overflows; shrink the case")
        let y = try c.run(path.backend, threads: 2)
        let overflowed = y.indices.filter { !y[$0].isFinite }
        #expect(overflowed.isEmpty, "\(path.label): \(overflowed.count) outputs overflow, e.g. \(overflowed.prefix(3))")
        let tolerance = path.backend.name == "winograd" ? 1e-3 : 1e-5
        #expect(normalizedMaxError(y, ref) <= tolerance, "\(path.label)")
    }

    /// A coarse sanity check, not a speed test: denormal products (inputs of 1e-40 times
    /// weights of about 1) must not make a run 10 times slower than normal inputs. Skipped
    /// under sanitizers (their instrumentation dominates the time).
    @Test("denormal inputs do not slow execution by orders of magnitude", .enabled(if: activeSanitizer == nil),
          arguments: ReliabilityPath.all.filter { $0.backend.name != "reference" })
    func denormalsAreNotSlow(_ path: ReliabilityPath) throws {
        var d = path.descriptor
        d.inputHeight = 40
        d.inputWidth = 40
        let base = ConvCase(d, seed: 20)
        let prepared = try path.backend.prepare(d, weights: base.weights, bias: base.bias)
        let normal = base.input
        let denormal = base.input.map { $0 * Float(bitPattern: 0x0001_16C2) }  // about 1e-40
        #expect(denormal.contains { $0.isSubnormal })
        func time(_ x: [Float]) throws -> Double {
            var best = Double.infinity
            var y = [Float](repeating: 0, count: d.outputCount)
            for _ in 0..<5 {
                let t0 = DispatchTime.now().uptimeNanoseconds
                try x.withUnsafeBufferPointer { xb in
                    try y.withUnsafeMutableBufferPointer { yb in try prepared.execute(input: xb, output: yb, threads: 1) }
                }
                best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0))
            }
            return best
        }
        _ = try time(normal)
        let tNormal = try time(normal), tDenormal = try time(denormal)
        let ratio = tDenormal / tNormal
        if path.backend.name == "onednn" {
            // oneDNN 2.6 computes subnormals in IEEE arithmetic like ConvKit, but on Intel CPUs
            // its kernels then take microcode assists: measured 101x slower on a Xeon with
            // AVX-512 FP16, within the 10x bound on AMD Zen 4. A oneDNN behaviour that the wrapper cannot fix
            // without changing the floating-point environment of the caller's threads.
            withKnownIssue("oneDNN is slow on subnormal inputs on Intel CPUs", isIntermittent: true) {
                #expect(ratio < 10, "onednn: denormal inputs run \(ratio)x slower (\(Int(tNormal / 1000)) us normal)")
            }
        } else {
            #expect(ratio < 10, "\(path.label): denormal inputs run \(ratio)x slower (\(Int(tNormal / 1000)) us normal)")
        }
    }
}
