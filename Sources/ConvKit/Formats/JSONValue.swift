import Foundation

/// A parsed JSON value (model files, safetensors headers).
public enum JSONValue: Hashable, Sendable, Codable, CustomStringConvertible {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case let .bool(b): try c.encode(b)
        case let .number(d):
            if d == d.rounded(), abs(d) < 1e15 { try c.encode(Int(d)) } else { try c.encode(d) }
        case let .string(s): try c.encode(s)
        case let .array(a): try c.encode(a)
        case let .object(o): try c.encode(o)
        }
    }

    /// Parses `data`.
    /// - Throws: ``ConvError/invalidFile(path:reason:)`` naming `path` for malformed JSON.
    public static func parse(_ data: Data, path: String) throws -> JSONValue {
        do {
            return try JSONDecoder().decode(JSONValue.self, from: data)
        } catch {
            if let at = JSONSyntax.firstError(in: data) {
                throw ConvError.invalidFile(path: path, reason: "malformed JSON at line \(at.line), column \(at.column): \(at.message)")
            }
            throw ConvError.invalidFile(path: path, reason: "malformed JSON (\(Self.describe(error)))")
        }
    }

    /// Compact JSON text with sorted keys.
    public func jsonData() -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? e.encode(self)) ?? Data("null".utf8)
    }

    /// The value as an integer, when it is a whole number that fits.
    public var intValue: Int? {
        if case let .number(d) = self, d == d.rounded(), abs(d) <= 9.007_199_254_740_992e15 { return Int(d) }
        return nil
    }

    public var description: String { String(decoding: jsonData(), as: UTF8.self) }

    private static func describe(_ error: Error) -> String {
        if case let DecodingError.dataCorrupted(ctx) = error {
            if let u = ctx.underlyingError as NSError?, let d = u.userInfo[NSDebugDescriptionErrorKey] as? String {
                return d
            }
            return ctx.debugDescription
        }
        return "\(error)"
    }
}

extension JSONValue: ExpressibleByIntegerLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
                     ExpressibleByDictionaryLiteral, ExpressibleByBooleanLiteral, ExpressibleByFloatLiteral {
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, b in b }))
    }
}

/// Finds the first syntax error in JSON text, for messages with a line and column (Foundation's
/// decoder does not give one). A strict RFC 8259 scanner; it builds nothing.
enum JSONSyntax {
    struct Location { var line: Int; var column: Int; var message: String }

    static func firstError(in data: Data) -> Location? {
        let b = [UInt8](data)
        var i = 0
        func location(_ message: String) -> Location {
            var line = 1, column = 1
            for k in 0..<min(i, b.count) {
                if b[k] == 0x0A { line += 1; column = 1 } else { column += 1 }
            }
            return Location(line: line, column: column, message: message)
        }
        func skip() { while i < b.count, [0x20, 0x09, 0x0A, 0x0D].contains(b[i]) { i += 1 } }
        func found() -> String {
            guard i < b.count else { return "the text ends" }
            let c = b[i]
            return c >= 0x20 && c < 0x7F ? "found '\(Character(Unicode.Scalar(c)))'" : "found byte \(c)"
        }
        func literal(_ word: String) -> Location? {
            let w = Array(word.utf8)
            if i + w.count <= b.count && Array(b[i..<(i + w.count)]) == w { i += w.count; return nil }
            return location("expected '\(word)', \(found())")
        }
        func string() -> Location? {
            i += 1
            while i < b.count {
                let c = b[i]
                if c == 0x22 { i += 1; return nil }
                if c < 0x20 { return location("control character in a string (byte \(c))") }
                if c == 0x5C {
                    i += 1
                    guard i < b.count else { break }
                    if b[i] == UInt8(ascii: "u") {
                        for _ in 0..<4 {
                            i += 1
                            guard i < b.count, (b[i] >= 0x30 && b[i] <= 0x39) || (b[i] | 0x20 >= 0x61 && b[i] | 0x20 <= 0x66) else {
                                return location("bad \\u escape in a string")
                            }
                        }
                    } else if !Array("\"\\/bfnrt".utf8).contains(b[i]) {
                        return location("bad escape in a string, \(found())")
                    }
                }
                i += 1
            }
            return location("unterminated string")
        }
        func number() -> Location? {
            let start = i
            if i < b.count && b[i] == UInt8(ascii: "-") { i += 1 }
            func digits() -> Int { let s = i; while i < b.count, b[i] >= 0x30 && b[i] <= 0x39 { i += 1 }; return i - s }
            if digits() == 0 { i = start; return location("expected a value, \(found())") }
            if i < b.count && b[i] == UInt8(ascii: ".") { i += 1; if digits() == 0 { return location("expected digits after '.'") } }
            if i < b.count && (b[i] | 0x20) == UInt8(ascii: "e") {
                i += 1
                if i < b.count && (b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-")) { i += 1 }
                if digits() == 0 { return location("expected digits in the exponent") }
            }
            return nil
        }
        func value(depth: Int) -> Location? {
            if depth > 512 { return location("nesting deeper than 512 levels") }
            skip()
            guard i < b.count else { return location("expected a value, the text ends") }
            switch b[i] {
            case UInt8(ascii: "{"):
                i += 1; skip()
                if i < b.count && b[i] == UInt8(ascii: "}") { i += 1; return nil }
                while true {
                    skip()
                    guard i < b.count, b[i] == 0x22 else { return location("expected a key in double quotes, \(found())") }
                    if let e = string() { return e }
                    skip()
                    guard i < b.count, b[i] == UInt8(ascii: ":") else { return location("expected ':' after the key, \(found())") }
                    i += 1
                    if let e = value(depth: depth + 1) { return e }
                    skip()
                    if i < b.count && b[i] == UInt8(ascii: ",") { i += 1; continue }
                    if i < b.count && b[i] == UInt8(ascii: "}") { i += 1; return nil }
                    return location("expected ',' or '}' in an object, \(found())")
                }
            case UInt8(ascii: "["):
                i += 1; skip()
                if i < b.count && b[i] == UInt8(ascii: "]") { i += 1; return nil }
                while true {
                    if let e = value(depth: depth + 1) { return e }
                    skip()
                    if i < b.count && b[i] == UInt8(ascii: ",") { i += 1; continue }
                    if i < b.count && b[i] == UInt8(ascii: "]") { i += 1; return nil }
                    return location("expected ',' or ']' in an array, \(found())")
                }
            case 0x22: return string()
            case UInt8(ascii: "t"): return literal("true")
            case UInt8(ascii: "f"): return literal("false")
            case UInt8(ascii: "n"): return literal("null")
            default: return number()
            }
        }
        if let e = value(depth: 0) { return e }
        skip()
        return i < b.count ? location("unexpected text after the JSON value, \(found())") : nil
    }
}
