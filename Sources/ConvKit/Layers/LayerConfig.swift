/// One layer's object from a model file, with typed accessors whose errors name the layer.
///
/// A factory registered in ``LayerRegistry`` reads its options through these accessors; every
/// error reads `layer <index> '<name>' (<type>): <what is wrong>`.
public struct LayerConfig: Sendable {
    /// Position in the model (0-based).
    public let index: Int
    /// The `type` value.
    public let type: String
    /// The `name` value, or `<type><k>` for the k-th unnamed layer of that type (1-based).
    public let name: String
    /// Every key of the object, `type`, `name` and `inputs` included.
    public let values: [String: JSONValue]
    /// The tensors the layer reads (`inputs`, or the layer before it).
    public let inputs: [String]

    public init(index: Int, type: String, name: String, values: [String: JSONValue], inputs: [String] = ["input"]) {
        self.index = index; self.type = type; self.name = name; self.values = values; self.inputs = inputs
    }

    /// Runs `body`, turning its error into one naming this layer.
    func inNode<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as ConvError {
            if case let .invalidArgument(m) = e, m.hasPrefix("layer \(index) ") { throw e }
            throw error(e.description)
        }
    }

    /// An error naming this layer.
    public func error(_ message: String) -> ConvError {
        ConvError.invalidArgument("layer \(index) '\(name)' (\(type)): \(message)")
    }

    /// Throws for keys outside `allowed` (plus `type` and `name`), to catch typos.
    public func checkKeys(_ allowed: Set<String>) throws {
        let unknown = values.keys.filter { !allowed.contains($0) && $0 != "type" && $0 != "name" && $0 != "inputs" }.sorted()
        if !unknown.isEmpty {
            throw error("unknown key\(unknown.count > 1 ? "s" : "") \(unknown.map { "'\($0)'" }.joined(separator: ", "))"
                        + " (allowed: \(allowed.sorted().joined(separator: ", ")))")
        }
    }

    /// Integer `key` (at least `minimum`), or `default` when absent (nil default: required).
    public func int(_ key: String, default def: Int? = nil, minimum: Int = 1) throws -> Int {
        guard let v = values[key] else {
            if let def { return def }
            throw error("missing '\(key)'")
        }
        guard let i = v.intValue else { throw error("'\(key)' must be an integer, got \(v)") }
        if i < minimum { throw error("'\(key)' must be at least \(minimum), got \(i)") }
        return i
    }

    /// `key` as one integer (both axes) or `[height, width]`.
    public func pair(_ key: String, default def: (Int, Int)? = nil, minimum: Int = 1) throws -> (Int, Int) {
        guard let v = values[key] else {
            if let def { return def }
            throw error("missing '\(key)'")
        }
        if let i = v.intValue {
            if i < minimum { throw error("'\(key)' must be at least \(minimum), got \(i)") }
            return (i, i)
        }
        if case let .array(a) = v, a.count == 2, let h = a[0].intValue, let w = a[1].intValue {
            if h < minimum || w < minimum { throw error("'\(key)' values must be at least \(minimum), got \(v)") }
            return (h, w)
        }
        throw error("'\(key)' must be an integer or [height, width], got \(v)")
    }

    /// Padding `key`: one integer, `[height, width]` or `[top, left, bottom, right]`.
    public func padding(_ key: String = "pad") throws -> Padding {
        guard let v = values[key] else { return .zero }
        if let i = v.intValue, i >= 0 { return Padding(i) }
        if case let .array(a) = v {
            let ints = a.compactMap(\.intValue)
            if ints.count == a.count, ints.allSatisfy({ $0 >= 0 }) {
                if ints.count == 2 { return Padding(height: ints[0], width: ints[1]) }
                if ints.count == 4 { return Padding(top: ints[0], left: ints[1], bottom: ints[2], right: ints[3]) }
            }
        }
        throw error("'\(key)' must be a non-negative integer, [height, width] or [top, left, bottom, right], got \(v)")
    }

    /// String `key`, or `default` when absent.
    public func string(_ key: String, default def: String? = nil) throws -> String {
        guard let v = values[key] else {
            if let def { return def }
            throw error("missing '\(key)'")
        }
        guard case let .string(s) = v else { throw error("'\(key)' must be a string, got \(v)") }
        return s
    }

    /// Boolean `key`, or `default` when absent.
    public func bool(_ key: String, default def: Bool) throws -> Bool {
        guard let v = values[key] else { return def }
        guard case let .bool(b) = v else { throw error("'\(key)' must be true or false, got \(v)") }
        return b
    }

    /// Number `key`, or `default` when absent.
    public func number(_ key: String, default def: Double) throws -> Double {
        guard let v = values[key] else { return def }
        guard case let .number(d) = v else { throw error("'\(key)' must be a number, got \(v)") }
        return d
    }

    /// `activation`: `"none"`/`"linear"` (default), `"relu"`, `"relu6"`, or an object
    /// `{"clamp": [min, max]}`.
    public func activation(_ key: String = "activation") throws -> Activation {
        if case let .object(o)? = values[key], o.count == 1, case let .array(b)? = o["clamp"], b.count == 2,
           case let .number(lo) = b[0], case let .number(hi) = b[1] {
            let a = Activation.clamp(min: Float(lo), max: Float(hi))
            do { try a.validate() } catch { throw self.error("\(error)") }
            return a
        }
        switch try string(key, default: "none") {
        case "none", "linear", "identity": return .none
        case "relu": return .relu
        case "relu6": return .relu6
        case let other: throw error("unknown activation '\(other)' (known: none, relu, relu6, {\"clamp\": [min, max]})")
        }
    }

    /// Float `key`, or `default` when absent.
    public func float(_ key: String, default def: Float) throws -> Float { Float(try number(key, default: Double(def))) }
}

extension Activation {
    /// The model-file form (``LayerConfig/activation(_:)``).
    public var configValue: JSONValue {
        switch self {
        case .none: return "none"
        case .relu: return "relu"
        case let .clamp(lo, hi):
            if self == .relu6 { return "relu6" }
            return .object(["clamp": .array([.number(Double(lo)), .number(Double(hi))])])
        }
    }
}
