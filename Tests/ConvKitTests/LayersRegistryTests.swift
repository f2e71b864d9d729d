import Foundation
import Testing
import ConvKit

/// A user-defined layer: `y = x * factor + offset`, stateless, so it is its own prepared form.
final class ScaleShift: Layer, PreparedLayer {
    let name: String
    let factor: Float
    let offset: Float
    var typeName: String { "scaleshift" }
    init(name: String, factor: Float, offset: Float) { self.name = name; self.factor = factor; self.offset = offset }
    func outputShape(for input: TensorShape) throws -> TensorShape { input }
    func flops(for input: TensorShape) -> Int { 2 * input.count }
    func forward(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, shape: TensorShape, threads: Int) throws {
        for i in 0..<shape.count { output[i] = input[i] * factor + offset }
    }
}

@Suite("Layer registry")
struct LayersRegistryTests {
    func registry() -> LayerRegistry {
        let r = LayerRegistry()
        r.register("scaleshift") { config, _ in
            try config.checkKeys(["factor", "offset"])
            return ScaleShift(name: config.name, factor: Float(try config.number("factor", default: 1)),
                              offset: Float(try config.number("offset", default: 0)))
        }
        return r
    }

    @Test("a custom layer registered from a test works in a model file")
    func customLayerInModel() throws {
        let json = """
            {"input": [2, 4, 4], "layers": [{"type": "scaleshift", "name": "pre", "factor": 2, "offset": -1},
              {"type": "conv", "name": "c", "filters": 3, "size": 3, "pad": 1}, {"type": "scaleshift", "factor": 0.5}]}
            """
        let r = registry()
        #expect(r.typeNames.contains("scaleshift") && r.typeNames.contains("conv"))
        let model = try SequentialModel(spec: spec(json), registry: r)
        #expect(model.layers.map(\.name) == ["pre", "c", "scaleshift1"])
        #expect(try model.summary().layers[0].flops == 64)
        model.initializeWeights(seed: 1)
        var rng = TestRandom(seed: 2)
        let x = rng.uniform(3 * 32)
        let y = try runModel(model, x, batch: 3, backend: "direct")
        // Expected: the convolution alone on the pre-scaled input, then halved.
        let conv = try SequentialModel(input: model.inputShape, layers: [model.layer(named: "c")!])
        let ref = try runModel(conv, x.map { $0 * 2 - 1 }, batch: 3, backend: "reference").map { $0 * 0.5 }
        #expect(normalizedMaxError(y, ref) < 1e-5)
        // The shared registry does not know the type; the error names it.
        let text = errorText { _ = try SequentialModel(spec: spec(json)) }
        #expect(text.hasPrefix("layer 0 'pre' (scaleshift): unknown layer type 'scaleshift'"))
        // Factory errors name the layer too.
        let bad = "{\"input\": [1, 2, 2], \"layers\": [{\"type\": \"scaleshift\", \"scale\": 2}]}"
        #expect(errorText { _ = try SequentialModel(spec: spec(bad), registry: r) }
                .hasPrefix("layer 0 'scaleshift1' (scaleshift): unknown key 'scale'"))
    }
}
