import ConvKit
import Foundation
import Testing

/// Descriptors whose buffers or workspace would exceed Int range or the machine's memory are
/// refused at prepare time with a typed error, never a crash; backends state their workspace.
@Suite("Reliability: resource limits")
struct ReliabilityResourceTests {
    /// Valid-looking descriptors whose sizes overflow somewhere: every backend (and auto)
    /// refuses them in prepare with ``ConvError/sizeOverflow(what:limit:)``.
    @Test("sizes that overflow Int are refused by every backend's prepare with sizeOverflow")
    func overflowingSizesRefused() {
        let cases: [(String, Conv2DDescriptor)] = [
            ("output bytes", Conv2DDescriptor(batch: Int.max / 4, channels: 1, height: 1, width: 1, filters: 2, size: 1)),
            ("input elements", Conv2DDescriptor(batch: 1 << 31, channels: 1 << 31, height: 4, width: 1, filters: 1,
                                                size: 1)),
            ("output plane", Conv2DDescriptor(channels: 1, height: 1 << 32, width: 1 << 32, filters: 1, size: 1)),
            ("FLOPs", Conv2DDescriptor(channels: 1 << 20, height: 1 << 12, width: 1 << 12, filters: 1 << 20, size: 1)),
            ("weights", Conv2DDescriptor(channels: 1 << 31, height: 1, width: 1, filters: 1 << 31, size: 1)),
            ("padded height", Conv2DDescriptor(
                inputChannels: 1, inputHeight: 3, inputWidth: 3, outputChannels: 1, kernelHeight: 1, kernelWidth: 1,
                padding: Padding(top: Int.max - 1, left: 0, bottom: 2, right: 0))),
        ]
        let backends = BackendRegistry.shared.all + [try! BackendRegistry.shared.backend(named: "auto")]
        for (name, d) in cases {
            let error = #expect(throws: ConvError.self, "\(name)") { try d.validate() }
            guard case .sizeOverflow? = error else {
                Issue.record("\(name): expected sizeOverflow, got \(String(describing: error))")
                continue
            }
            #expect(error?.description.contains("too large") == true, "\(name): \(String(describing: error))")
            for backend in backends where backend.availability.isAvailable {
                let e = #expect(throws: ConvError.self, "\(backend.name) \(name)") {
                    _ = try backend.prepare(d, weights: [1], bias: [1])
                }
                #expect(e == error, "\(backend.name) \(name)")
            }
        }
    }

    /// A valid descriptor far larger than this machine's memory (a batch of 2^28 images of
    /// 64x64x16: 70 GB of input) costs nothing to prepare on direct and reference (their
    /// workspace does not depend on the batch); Winograd, whose workspace would exceed the
    /// machine's memory, refuses it at prepare time. oneDNN allocates its blocked copies of input and output at
    /// prepare time: it must fail with a typed error (out of memory), not crash.
    @Test("a valid but enormous batch: native prepare is cheap, oneDNN fails with a typed error")
    func enormousBatch() throws {
        let d = Conv2DDescriptor(batch: 1 << 28, channels: 16, height: 64, width: 64, filters: 16, size: 3, pad: 1)
        try d.validate()
        let w = [Float](repeating: 0.01, count: d.weightCount), b = [Float](repeating: 0, count: 16)
        // Winograd's workspace holds a padded copy of the whole batch: more than this machine's
        // memory, so it is refused at prepare time with a typed error naming the workspace.
        do {
            _ = try WinogradBackend(tile: .f2x3).prepare(d, weights: w, bias: b)
            Issue.record("winograd prepared a workspace larger than the machine's memory")
        } catch let error as ConvError {
            #expect(error.description.contains("winograd workspace"), "\(error)")
        }
        // Direct: a bounded workspace, a zero-padded copy of at most 16 MiB of images (or the GEMM
        // path's per-worker packed blocks), whatever the batch. The reference needs none.
        let direct = try DirectBackend().prepare(d, weights: w, bias: b)
        #expect(direct.workspaceBytes < 64 << 20, "direct workspace \(direct.workspaceBytes)")
        #expect(try ReferenceBackend().prepare(d, weights: w, bias: b).workspaceBytes == 0)
        // oneDNN may prepare (it reserves memory lazily) or refuse with a typed error naming it.
        let onednn = OneDNNBackend()
        if onednn.availability.isAvailable {
            do {
                let p = try onednn.prepare(d, weights: w, bias: b)
                #expect(p.implementation.contains(":"), "\(p.implementation)")
            } catch let error as ConvError {
                #expect(error.description.contains("onednn"), "\(error)")
            }
        }
    }

    @Test("every native prepared convolution states a positive workspace (none for the in-place depthwise kernel); the reference none",
          arguments: ReliabilityPath.all)
    func workspaceIsStated(_ path: ReliabilityPath) throws {
        let c = ConvCase(path.descriptor, seed: 1)
        let p = try path.backend.prepare(c.descriptor, weights: c.weights, bias: c.bias)
        switch path.backend.name {
        case "reference":
            #expect(p.workspaceBytes == 0)
            #expect(p.implementation.contains("Double accumulation"), "\(p.implementation)")
        case "direct":
            // The AVX-512F depthwise kernel reads the input in place: no workspace at all.
            if p.implementation.contains("input read in place") {
                #expect(p.workspaceBytes == 0, "\(path.label)")
            } else {
                #expect(p.workspaceBytes > 0, "\(path.label)")
            }
            #expect(["convolution", "GEMM", "kernel"].contains { p.implementation.contains($0) }, "\(p.implementation)")
        case "winograd":
            #expect(p.workspaceBytes > 0, "\(path.label)")
            #expect(p.implementation.contains("Winograd F("), "\(p.implementation)")
        default:
            // oneDNN: its scratchpad, bounded by 1000x the layer's input, and its "<kind>:<isa>" name.
            #expect(p.workspaceBytes < 4000 * path.descriptor.inputCount, "\(path.label): \(p.workspaceBytes)")
            #expect(p.implementation.contains(":"), "\(p.implementation)")
        }
    }

    /// Winograd's padded input copy is as large as the padded batch of input planes, which
    /// can be far larger than both input and output when C >> K and the padding is large:
    /// here 16 input channels of 1x1 padded to 1001x1001 (64 MB) for a 1-channel output of
    /// 4 MB. Reported (not refused; it fits in memory), so a caller can see it.
    @Test("Winograd reports the padded-copy workspace")
    func winogradPaddedWorkspace() throws {
        let d = Conv2DDescriptor(channels: 16, height: 1, width: 1, filters: 1, size: 3, pad: 500)
        let c = ConvCase(d, seed: 1)
        let p = try WinogradBackend(tile: .f2x3).prepare(d, weights: c.weights, bias: c.bias)
        let paddedBytes = 16 * 1002 * 1002 * 4
        #expect(p.workspaceBytes >= paddedBytes, "workspace \(p.workspaceBytes) < padded copy \(paddedBytes)")
    }
}
