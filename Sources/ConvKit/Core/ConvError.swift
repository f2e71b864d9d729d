import Foundation

/// Every error ConvKit throws.
///
/// Each case carries the offending value and what was expected, so that the
/// message (``description``) can be shown to a user as it is. ConvKit never
/// traps on user input: invalid descriptors, mis-sized buffers, malformed files
/// and unsupported configurations all surface as a `ConvError`.
public enum ConvError: Error, Equatable, Sendable, CustomStringConvertible, LocalizedError {
    /// A size, stride or dilation that must be at least 1 was not.
    case nonPositive(parameter: String, value: Int)
    /// A padding value was negative.
    case negativePadding(side: String, value: Int)
    /// `groups` does not divide the channel count named by `parameter`.
    case groupsDoNotDivide(groups: Int, parameter: String, value: Int)
    /// The dilated kernel extent is larger than the padded input along `axis`.
    case kernelLargerThanInput(axis: String, effectiveKernel: Int, paddedInput: Int)
    /// `(input - effectiveKernel + padding) / stride + 1` is not a whole number and
    /// the descriptor asked for an exact fit.
    case inexactFit(axis: String, input: Int, effectiveKernel: Int, padding: Int, stride: Int)
    /// A computed size (element count, byte count, FLOPs) does not fit in `Int`
    /// or exceeds the limit named in `limit`.
    case sizeOverflow(what: String, limit: String)
    /// A tensor or array had the wrong shape.
    case shapeMismatch(what: String, expected: [Int], actual: [Int])
    /// A caller-supplied buffer holds fewer elements than required.
    case bufferTooSmall(what: String, required: Int, actual: Int)
    /// Input and output buffers overlap; the output would overwrite the input.
    case overlappingBuffers
    /// The activation's parameters are invalid (for example clamp with min > max).
    case invalidActivation(String)
    /// The backend cannot run this descriptor; `reason` says why.
    case unsupported(backend: String, reason: String)
    /// The backend cannot run on this machine at all; `reason` says why.
    case unavailable(backend: String, reason: String)
    /// No backend is registered under `name`.
    case unknownBackend(name: String, known: [String])
    /// A backend-internal call failed (for example a oneDNN status other than success).
    case backendFailure(backend: String, operation: String, status: String)
    /// A file could not be read, written or parsed.
    case invalidFile(path: String, reason: String)
    /// Any other invalid argument; the message says which and why.
    case invalidArgument(String)

    public var description: String {
        switch self {
        case let .nonPositive(parameter, value):
            return "\(parameter) must be at least 1, got \(value)"
        case let .negativePadding(side, value):
            return "padding \(side) must be non-negative, got \(value)"
        case let .groupsDoNotDivide(groups, parameter, value):
            return "groups \(groups) must divide \(parameter) \(value)"
        case let .kernelLargerThanInput(axis, k, padded):
            return "effective kernel \(axis) \(k) is larger than the padded input \(axis) \(padded)"
        case let .inexactFit(axis, input, k, padding, stride):
            let num = input - k + padding
            let value = Double(num) / Double(stride) + 1
            return "configuration does not fit along \(axis): (\(input) - \(k) + \(padding))/\(stride) + 1 = "
                + formatFit(value) + ", not an integer"
        case let .sizeOverflow(what, limit):
            return "\(what) is too large (\(limit))"
        case let .shapeMismatch(what, expected, actual):
            return "\(what) has shape \(shapeString(actual)), expected \(shapeString(expected))"
        case let .bufferTooSmall(what, required, actual):
            return "\(what) buffer holds \(actual) elements, \(required) required"
        case .overlappingBuffers:
            return "input and output buffers overlap"
        case let .invalidActivation(message):
            return "invalid activation: \(message)"
        case let .unsupported(backend, reason):
            return "backend '\(backend)' unsupported for this convolution: \(reason)"
        case let .unavailable(backend, reason):
            return "backend '\(backend)' unavailable: \(reason)"
        case let .unknownBackend(name, known):
            return "unknown backend '\(name)' (known: \(known.joined(separator: ", ")))"
        case let .backendFailure(backend, operation, status):
            return "backend '\(backend)': \(operation) failed with \(status)"
        case let .invalidFile(path, reason):
            return "\(path): \(reason)"
        case let .invalidArgument(message):
            return message
        }
    }
}

private func shapeString(_ s: [Int]) -> String {
    "[" + s.map(String.init).joined(separator: ", ") + "]"
}

private func formatFit(_ v: Double) -> String {
    let hundredths = (v * 100).rounded()
    let whole = Int(hundredths) / 100
    let frac = abs(Int(hundredths)) % 100
    return "\(whole)." + (frac < 10 ? "0" : "") + "\(frac)"
}

extension ConvError {
    /// The message (``description``), so that `error.localizedDescription` shows it.
    public var errorDescription: String? { description }
}
