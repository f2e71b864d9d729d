import ArgumentParser
import ConvKit
import Foundation

// Shared helpers for the `convkit` subcommands: value parsing with one-line errors,
// and one place that turns every failure into exactly one `Error: ...` line on stderr.
//
// Exit codes used by every subcommand:
// - 0: success;
// - 1: the command failed (a ConvError: an invalid or unsupported configuration, a bad
//   file, a configuration that does not fit...);
// - 64 (EX_USAGE): a malformed command line (a value that does not parse).
// ArgumentParser's own errors (a missing or unknown option) also exit with 64.

/// A command-line failure with a one-line message and an exit code.
struct CLIError: Error, CustomStringConvertible {
    /// The message, without the `Error: ` prefix.
    var message: String
    /// The process exit code.
    var exitCode: Int32

    /// Exit code for a malformed command line (`EX_USAGE`, as ArgumentParser uses).
    static let usageExitCode: Int32 = 64

    /// A malformed value: `option` was given `value`, which is not `expected`.
    static func malformed(_ option: String, _ value: String, expected: String) -> CLIError {
        CLIError(message: "invalid value '\(value)' for \(option): expected \(expected)", exitCode: usageExitCode)
    }

    /// A usage error with a free-form message.
    static func usage(_ message: String) -> CLIError {
        CLIError(message: message, exitCode: usageExitCode)
    }

    var description: String { message }
}

/// Runs `body`; if it throws, prints exactly one line `Error: <message>` to stderr and
/// exits with the error's code: ``CLIError/exitCode``, 1 for a ``ConvError`` or any other
/// error. An `ExitCode` thrown by `body` passes through silently (the body has already
/// reported what happened).
///
/// Every subcommand's `run()` wraps its work in this.
func runReportingErrors(_ body: () throws -> Void) throws {
    do {
        // An invalid CONVKIT_* value would silently fall back to a default: refuse it instead.
        let problems = ConvKit.environmentProblems
        if !problems.isEmpty { throw CLIError.usage(problems.joined(separator: "; ")) }
        try body()
    } catch let code as ExitCode {
        throw code
    } catch let error as CLIError {
        printErrorLine(error.message)
        throw ExitCode(error.exitCode)
    } catch let error as ConvError {
        printErrorLine(error.description)
        throw ExitCode.failure
    } catch {
        printErrorLine(String(describing: error))
        throw ExitCode.failure
    }
}

/// Writes `Error: <message>` as a single line to stderr (newlines in `message` become spaces).
func printErrorLine(_ message: String) {
    let line = "Error: " + message.split(whereSeparator: \.isNewline).joined(separator: " ") + "\n"
    FileHandle.standardError.write(Data(line.utf8))
}

/// Parsing of the CLI's value syntaxes. Every function throws ``CLIError/malformed(_:_:expected:)``
/// naming the option and the value.
enum CLIParse {
    /// A positive integer.
    static func positiveInt(_ text: String, option: String) throws -> Int {
        guard let v = Int(text.trimmingSpaces), v >= 1 else {
            throw CLIError.malformed(option, text, expected: "a positive integer")
        }
        return v
    }

    /// A non-negative integer.
    static func nonNegativeInt(_ text: String, option: String) throws -> Int {
        guard let v = Int(text.trimmingSpaces), v >= 0 else {
            throw CLIError.malformed(option, text, expected: "a non-negative integer")
        }
        return v
    }

    /// `N` (both axes) or `H,W`: positive integers (stride, dilation).
    static func pair(_ text: String, option: String) throws -> (height: Int, width: Int) {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { String($0).trimmingSpaces }
        let values = parts.map { Int($0) }
        guard parts.count == 1 || parts.count == 2, values.allSatisfy({ ($0 ?? 0) >= 1 }) else {
            throw CLIError.malformed(option, text, expected: "a positive integer or 'h,w'")
        }
        return parts.count == 1 ? (values[0]!, values[0]!) : (values[0]!, values[1]!)
    }

    /// Padding syntax: `P` (all sides), `H,W` (top/bottom and left/right) or
    /// `TOP,LEFT,BOTTOM,RIGHT`, non-negative integers; or `same`, returned as `nil`
    /// (the caller computes it with ``Padding/same(inputHeight:inputWidth:kernelHeight:kernelWidth:strideHeight:strideWidth:dilationHeight:dilationWidth:)``).
    static func padding(_ text: String, option: String) throws -> Padding? {
        if text.trimmingSpaces.lowercased() == "same" { return nil }
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { String($0).trimmingSpaces }
        let values = parts.map { Int($0) }
        if [1, 2, 4].contains(parts.count), let negative = values.first(where: { ($0 ?? 0) < 0 }) {
            throw CLIError(message: "invalid value '\(text)' for \(option): padding cannot be negative (\(negative!))",
                           exitCode: CLIError.usageExitCode)
        }
        guard [1, 2, 4].contains(parts.count), values.allSatisfy({ ($0 ?? -1) >= 0 }) else {
            throw CLIError.malformed(option, text,
                                     expected: "a non-negative integer, 'h,w', 'top,left,bottom,right' or 'same'")
        }
        let v = values.map { $0! }
        switch v.count {
        case 1: return Padding(v[0])
        case 2: return Padding(height: v[0], width: v[1])
        default: return Padding(top: v[0], left: v[1], bottom: v[2], right: v[3])
        }
    }

    /// An input volume `CxHxW` (channels x height x width), positive integers.
    static func volume(_ text: String, option: String) throws -> (channels: Int, height: Int, width: Int) {
        let v = try dims(text, count: [3], option: option, expected: "CxHxW, for example 3x32x32")
        return (v[0], v[1], v[2])
    }

    /// A kernel size `F` (square) or `RxS` (height x width), positive integers.
    static func kernelSize(_ text: String, option: String) throws -> (height: Int, width: Int) {
        let v = try dims(text, count: [1, 2], option: option, expected: "F or RxS, for example 3 or 3x5")
        return v.count == 1 ? (v[0], v[0]) : (v[0], v[1])
    }

    /// An activation: `none`, `relu`, `relu6` or `clamp:MIN,MAX`.
    static func activation(_ text: String, option: String) throws -> Activation {
        let t = text.trimmingSpaces.lowercased()
        switch t {
        case "none": return .none
        case "relu": return .relu
        case "relu6": return .relu6
        default:
            let expected = "none, relu, relu6 or clamp:MIN,MAX"
            guard t.hasPrefix("clamp:") else { throw CLIError.malformed(option, text, expected: expected) }
            let bounds = t.dropFirst("clamp:".count).split(separator: ",", omittingEmptySubsequences: false)
            guard bounds.count == 2, let lo = Float(String(bounds[0]).trimmingSpaces),
                  let hi = Float(String(bounds[1]).trimmingSpaces), !lo.isNaN, !hi.isNaN else {
                throw CLIError.malformed(option, text, expected: expected)
            }
            guard lo <= hi else {
                throw CLIError.malformed(option, text, expected: "clamp:MIN,MAX with MIN <= MAX")
            }
            return .clamp(min: lo, max: hi)
        }
    }

    private static func dims(_ text: String, count: Set<Int>, option: String, expected: String) throws -> [Int] {
        let parts = text.lowercased().split(separator: "x", omittingEmptySubsequences: false)
            .map { Int(String($0).trimmingSpaces) }
        guard count.contains(parts.count), parts.allSatisfy({ ($0 ?? 0) >= 1 }) else {
            throw CLIError.malformed(option, text, expected: expected)
        }
        return parts.map { $0! }
    }
}

extension String {
    /// The string without leading and trailing spaces and tabs.
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}

/// Formats a value of the output-size formula: an integer as is, otherwise with two decimals
/// (`2.33`), as the output size formula is usually written.
func formatFormulaValue(_ v: Double) -> String {
    if v == v.rounded() { return String(Int(v)) }
    let hundredths = Int((v * 100).rounded())
    let sign = hundredths < 0 ? "-" : ""
    let a = abs(hundredths)
    return sign + "\(a / 100)." + (a % 100 < 10 ? "0" : "") + "\(a % 100)"
}

/// `1234567` as `1,234,567`.
func groupedThousands(_ v: Int) -> String {
    let digits = String(v.magnitude)
    var out = ""
    for (i, ch) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
        out.append(ch)
    }
    return (v < 0 ? "-" : "") + out
}

/// `--winograd-tile 2|4|6|auto`: registers a Winograd backend with that tile in place of the
/// default one (automatic per-layer choice), so `--backend winograd` and the bench use it.
func applyWinogradTile(_ value: String?, to registry: BackendRegistry = .shared) throws {
    guard let value, value != "auto" else { return }
    guard let tile = WinogradTile(name: value) else {
        throw CLIError.malformed("--winograd-tile", value, expected: "2, 4, 6 or auto")
    }
    registry.register(WinogradBackend(tile: tile))
}

/// Reads a `.npy` file of float32, or float64/float16 converted to float32 with a note on
/// stderr (`what` names the file's role: "input", "weights"...).
func readNumPy(_ path: String, what: String) throws -> NumPyArray {
    let (array, from) = try NumPyArray.readConverting(path: path)
    if let from {
        writeToStandardError("note: \(what) \(path) is \(from == "<f8" ? "float64" : "float16") ('\(from)'); converted to float32\n")
    }
    return array
}

/// A hint when `shape` (an input file's) looks like a layout mistake against the expected
/// sample `[c, h, w]`: channels last (NHWC), or no batch dimension. Empty when none applies.
func layoutHint(_ shape: [Int], channels c: Int, height h: Int, width w: Int) -> String {
    if shape.count == 4 && shape[3] == c && shape[1] == h && shape[2] == w && shape[1] != c {
        return " (it looks like NHWC, channels last; ConvKit takes NCHW: numpy.transpose(x, (0, 3, 1, 2)))"
    }
    if shape.count == 3 && shape == [c, h, w] {
        return " (the batch dimension is missing: save x[None], shape [1, \(c), \(h), \(w)])"
    }
    if shape.count == 3 && shape == [h, w, c] && h != c {
        return " (it looks like one HxWxC image without a batch dimension; ConvKit takes [N, C, H, W])"
    }
    return ""
}
