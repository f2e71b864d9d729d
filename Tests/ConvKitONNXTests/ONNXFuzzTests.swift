import ConvKit
import ConvKitONNX
import Foundation
import SwiftProtobuf
import Testing

/// Mutated models: every case ends in a typed error (``ONNXImportError`` at import,
/// ``ConvError`` at prepare or run) or a valid run. A crash, trap or hang fails the suite.
@Suite struct ONNXFuzzTests {
    static let cases = Int(ProcessInfo.processInfo.environment["CONVKIT_FUZZ_COUNT"] ?? "") ?? 2000
    static let seed = UInt64(ProcessInfo.processInfo.environment["CONVKIT_FUZZ_SEED"] ?? "") ?? 20261202

    static func seeds() throws -> [Data] {
        var models = [try smallModel().serializedData(), try exportedNetwork(ExporterStyle(clipAsInputs: true, shapeChain: true)).serializedData()]
        for name in ["resnet_basic_bn", "fire_concat", "resnet_bottleneck_folded", "se_dilated_grouped"] {
            models.append(try Data(contentsOf: URL(fileURLWithPath: "\(fixtures)/\(name).onnx")))
        }
        return models
    }

    /// Imports `data`; if it imports, prepares and runs it on a batch of 2. Returns what happened.
    static func attempt(_ data: Data) -> String {
        let model: GraphModel
        do {
            model = try ONNXImporter.load(serialized: data)
        } catch is ONNXImportError {
            return "import error"
        } catch {
            Issue.record("import threw \(type(of: error)): \(error)")
            return "bad error"
        }
        do {
            let x = randomValues(2 * model.inputShape.count, seed: 3)
            _ = try run(model, x, batch: 2, backend: "direct", threads: 1)
            return "ran"
        } catch is ConvError {
            return "prepare error"
        } catch {
            Issue.record("prepare/run threw \(type(of: error)): \(error)")
            return "bad error"
        }
    }

    /// Byte-level mutations: bit flips, truncations, inserted and deleted bytes.
    @Test func byteMutations() throws {
        var g = SplitMix64(seed: Self.seed)
        let seeds = try Self.seeds()
        var outcomes: [String: Int] = [:]
        for _ in 0..<Self.cases {
            var d = [UInt8](seeds[Int(g.next() % UInt64(seeds.count))])
            switch g.next() % 4 {
            case 0: for _ in 0..<(1 + g.next() % 8) { let i = Int(g.next() % UInt64(d.count)); d[i] ^= 1 << UInt8(g.next() % 8) }
            case 1: d = Array(d.prefix(Int(g.next() % UInt64(d.count))))
            case 2: let i = Int(g.next() % UInt64(d.count)); d.insert(contentsOf: (0..<(1 + g.next() % 4)).map { _ in UInt8(truncatingIfNeeded: g.next()) }, at: i)
            default: let i = Int(g.next() % UInt64(d.count)); d.removeSubrange(i..<min(d.count, i + 1 + Int(g.next() % 16)))
            }
            outcomes[Self.attempt(Data(d)), default: 0] += 1
        }
        #expect(outcomes["bad error"] == nil)
        #expect((outcomes["import error"] ?? 0) > 0)
    }

    /// Message-level mutations: swapped inputs or operators, attributes set to odd values
    /// (zero, negative, huge), dims changed, nodes removed or duplicated.
    @Test func fieldMutations() throws {
        var g = SplitMix64(seed: Self.seed &+ 1)
        let seeds = try Self.seeds().map { try Onnx_ModelProto(serializedBytes: $0) }
        var outcomes: [String: Int] = [:]
        let odd: [Int64] = [0, -1, -7, 1, 2, 3, 1 << 20, 1 << 31, Int64.max, Int64.min]
        for _ in 0..<Self.cases {
            var m = seeds[Int(g.next() % UInt64(seeds.count))]
            let nodes = m.graph.node.count
            func pick(_ n: Int) -> Int { Int(g.next() % UInt64(max(n, 1))) }
            for _ in 0..<(1 + g.next() % 3) {
                let a = pick(nodes), b = pick(nodes)
                switch g.next() % 7 {
                case 0: m.graph.node.swapAt(a, b)
                case 1:
                    let t = m.graph.node[a].opType; m.graph.node[a].opType = m.graph.node[b].opType; m.graph.node[b].opType = t
                case 2:
                    if !m.graph.node[a].input.isEmpty, !m.graph.node[b].input.isEmpty {
                        m.graph.node[a].input[pick(m.graph.node[a].input.count)] = m.graph.node[b].input[pick(m.graph.node[b].input.count)]
                    }
                case 3:
                    if !m.graph.node[a].attribute.isEmpty {
                        let k = pick(m.graph.node[a].attribute.count)
                        let v = odd[pick(odd.count)]
                        if m.graph.node[a].attribute[k].ints.isEmpty { m.graph.node[a].attribute[k].i = v }
                        else { m.graph.node[a].attribute[k].ints[pick(m.graph.node[a].attribute[k].ints.count)] = v }
                    }
                case 4:
                    if !m.graph.initializer.isEmpty {
                        let k = pick(m.graph.initializer.count)
                        if !m.graph.initializer[k].dims.isEmpty {
                            m.graph.initializer[k].dims[pick(m.graph.initializer[k].dims.count)] = odd[pick(odd.count)]
                        }
                    }
                case 5: if nodes > 1 { m.graph.node.remove(at: a) }
                default: m.graph.node.append(m.graph.node[a])
                }
                if m.graph.node.count != nodes { break }
            }
            outcomes[Self.attempt(try m.serializedData()), default: 0] += 1
        }
        #expect(outcomes["bad error"] == nil)
        #expect((outcomes["ran"] ?? 0) > 0 && (outcomes["import error"] ?? 0) > 0, "\(outcomes)")
    }
}
