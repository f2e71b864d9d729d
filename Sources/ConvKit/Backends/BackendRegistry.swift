import Foundation

/// Backends by name, so that a flag string selects an engine and third parties can add their own.
///
/// The shared registry starts with the built-in backends (`reference`, `direct`,
/// `winograd`, `onednn` where they exist) and resolves the pseudo-name `auto` to an
/// ``AutoBackend`` that picks the best supported backend per descriptor.
///
/// Threading: all methods are safe to call from any thread.
public final class BackendRegistry: @unchecked Sendable {
    /// The process-wide registry.
    public static let shared = BackendRegistry(backends: BackendRegistry.builtIn)

    /// The built-in backends, in `auto`'s order of preference (fastest first).
    public static var builtIn: [any ConvBackend] {
        [WinogradBackend(), DirectBackend(), OneDNNBackend(), ReferenceBackend()]
    }

    private let lock = NSLock()
    private var backends: [any ConvBackend]

    /// A registry holding `backends` (names must be unique; later ones replace earlier ones).
    public init(backends: [any ConvBackend] = []) {
        self.backends = []
        for b in backends { register(b) }
    }

    /// Adds `backend`, replacing any backend registered under the same name.
    public func register(_ backend: any ConvBackend) {
        lock.lock(); defer { lock.unlock() }
        if let i = backends.firstIndex(where: { $0.name == backend.name }) {
            backends[i] = backend
        } else {
            backends.append(backend)
        }
    }

    /// Adds `backend` to `auto`'s order of preference just before the backend named `other`
    /// (a backend already registered under the same name is moved there).
    ///
    /// ```swift
    /// BackendRegistry.shared.register(MyBackend(), before: "direct")   // auto tries it before direct
    /// ```
    /// - Throws: ``ConvError/unknownBackend(name:known:)`` when no backend is named `other`.
    public func register(_ backend: any ConvBackend, before other: String) throws {
        lock.lock(); defer { lock.unlock() }
        guard backends.contains(where: { $0.name == other }), other != backend.name else {
            throw ConvError.unknownBackend(name: other, known: backends.map(\.name).filter { $0 != backend.name })
        }
        backends.removeAll { $0.name == backend.name }
        backends.insert(backend, at: backends.firstIndex { $0.name == other }!)
    }

    /// The registered backends, in registration order (which is `auto`'s preference order).
    public var all: [any ConvBackend] {
        lock.lock(); defer { lock.unlock() }
        return backends
    }

    /// The registered names plus `auto`.
    public var names: [String] { all.map(\.name) + [AutoBackend.autoName] }

    /// The backend registered as `name`, or an ``AutoBackend`` over this registry for `auto`.
    /// - Throws: ``ConvError/unknownBackend(name:known:)``.
    public func backend(named name: String) throws -> any ConvBackend {
        if name == AutoBackend.autoName { return AutoBackend(candidates: all) }
        if let b = all.first(where: { $0.name == name }) { return b }
        throw ConvError.unknownBackend(name: name, known: names)
    }
}

/// Picks, per descriptor, the first available backend that supports it and recommends
/// itself for it, in registry order; falls back to any supporting backend.
public struct AutoBackend: ConvBackend {
    public static let autoName = "auto"
    public let candidates: [any ConvBackend]

    public init(candidates: [any ConvBackend]) { self.candidates = candidates }

    public var name: String { Self.autoName }
    public var summary: String { "best supported backend per descriptor" }
    public var availability: BackendAvailability {
        candidates.contains { $0.availability.isAvailable } ? .available : .unavailable(reason: "no backend available")
    }

    /// The backend `auto` uses for `descriptor`.
    public func choose(for descriptor: Conv2DDescriptor) throws -> any ConvBackend {
        let usable = candidates.filter { $0.availability.isAvailable && $0.support(for: descriptor).isSupported }
        if let preferred = usable.first(where: { ($0 as? any AutoSelectable)?.recommends(descriptor) ?? true }) {
            return preferred
        }
        if let any = usable.first { return any }
        throw ConvError.unsupported(backend: name, reason: "no registered backend supports \(descriptor)")
    }

    public func support(for descriptor: Conv2DDescriptor) -> BackendSupport {
        (try? choose(for: descriptor)) != nil ? .supported : .unsupported(reason: "no backend supports it")
    }

    public func canAccumulate(_ descriptor: Conv2DDescriptor) -> Bool {
        var d = descriptor
        d.accumulate = false
        return (try? choose(for: d))?.canAccumulate(descriptor) ?? false
    }

    public func prepare(_ descriptor: Conv2DDescriptor, weights: UnsafeBufferPointer<Float>,
                        bias: UnsafeBufferPointer<Float>?) throws -> any PreparedConvolution {
        try descriptor.validate()
        return try choose(for: descriptor).prepare(descriptor, weights: weights, bias: bias)
    }
}

/// A backend that supports more than it should be picked for (for example Winograd, which
/// supports small 3x3 layers but only wins on large ones) tells ``AutoBackend`` where it wins.
public protocol AutoSelectable {
    /// True when this backend should be `auto`'s choice for `descriptor`.
    func recommends(_ descriptor: Conv2DDescriptor) -> Bool
}
