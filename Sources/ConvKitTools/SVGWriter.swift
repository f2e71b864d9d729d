/// A minimal SVG 1.1 writer: appends elements with escaped text and attributes and
/// renders a standalone document. No external tools, no dependencies.
public struct SVGWriter {
    public let width: Double
    public let height: Double
    private var body: [String] = []
    private var depth = 1

    /// A document of `width x height` user units (pixels).
    public init(width: Double, height: Double) {
        self.width = width
        self.height = height
    }

    /// Escapes `&`, `<`, `>`, `"` and `'` for text and attribute values.
    public static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.count)
        for ch in s {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(ch)
            }
        }
        return out
    }

    /// A number as an attribute value: at most 2 decimals, no trailing zeros.
    public static func number(_ v: Double) -> String {
        guard v.isFinite else { return "0" }
        let r = (v * 100).rounded() / 100
        if r == r.rounded() { return String(Int(r)) }
        var s = String(r)
        if s.contains("e") { s = String(Int(r)) }
        return s
    }

    private static func attributes(_ attrs: KeyValuePairs<String, String>) -> String {
        attrs.map { " \($0.key)=\"\(escape($0.value))\"" }.joined()
    }

    private mutating func append(_ line: String) {
        body.append(String(repeating: "  ", count: depth) + line)
    }

    /// An empty element such as `<rect .../>` or `<line .../>`.
    public mutating func element(_ name: String, _ attrs: KeyValuePairs<String, String>) {
        append("<\(name)\(Self.attributes(attrs))/>")
    }

    /// A `<rect>` with an optional tooltip (`<title>` child).
    public mutating func rect(x: Double, y: Double, width: Double, height: Double, fill: String,
                              cssClass: String? = nil, tooltip: String? = nil) {
        let attrs = " x=\"\(Self.number(x))\" y=\"\(Self.number(y))\" width=\"\(Self.number(width))\""
            + " height=\"\(Self.number(height))\" fill=\"\(Self.escape(fill))\""
            + (cssClass.map { " class=\"\(Self.escape($0))\"" } ?? "")
        if let tooltip {
            append("<rect\(attrs)><title>\(Self.escape(tooltip))</title></rect>")
        } else {
            append("<rect\(attrs)/>")
        }
    }

    /// A straight line.
    public mutating func line(x1: Double, y1: Double, x2: Double, y2: Double, stroke: String,
                              width: Double = 1, dash: String? = nil, cssClass: String? = nil) {
        append("<line x1=\"\(Self.number(x1))\" y1=\"\(Self.number(y1))\" x2=\"\(Self.number(x2))\""
            + " y2=\"\(Self.number(y2))\" stroke=\"\(Self.escape(stroke))\" stroke-width=\"\(Self.number(width))\""
            + (dash.map { " stroke-dasharray=\"\(Self.escape($0))\"" } ?? "")
            + (cssClass.map { " class=\"\(Self.escape($0))\"" } ?? "") + "/>")
    }

    /// Text anchored at (x, y) (`anchor`: start, middle or end), optionally rotated about
    /// its anchor by `rotate` degrees; `halo` draws a white outline behind the glyphs so
    /// the text stays readable over bars and lines.
    public mutating func text(_ string: String, x: Double, y: Double, size: Double = 12,
                              anchor: String = "start", rotate: Double? = nil, fill: String = "#222",
                              weight: String? = nil, halo: Bool = false, cssClass: String? = nil) {
        var attrs = " x=\"\(Self.number(x))\" y=\"\(Self.number(y))\" font-size=\"\(Self.number(size))\""
            + " text-anchor=\"\(Self.escape(anchor))\" fill=\"\(Self.escape(fill))\""
        if let rotate {
            attrs += " transform=\"rotate(\(Self.number(rotate)) \(Self.number(x)) \(Self.number(y)))\""
        }
        if let weight { attrs += " font-weight=\"\(Self.escape(weight))\"" }
        if halo { attrs += " stroke=\"#ffffff\" stroke-width=\"3\" paint-order=\"stroke\"" }
        if let cssClass { attrs += " class=\"\(Self.escape(cssClass))\"" }
        append("<text\(attrs)>\(Self.escape(string))</text>")
    }

    /// Opens a `<g>` group (close it with ``endGroup()``).
    public mutating func beginGroup(id: String? = nil, cssClass: String? = nil) {
        append("<g" + (id.map { " id=\"\(Self.escape($0))\"" } ?? "")
            + (cssClass.map { " class=\"\(Self.escape($0))\"" } ?? "") + ">")
        depth += 1
    }

    /// Closes the innermost open group.
    public mutating func endGroup() {
        depth = max(1, depth - 1)
        append("</g>")
    }

    /// The standalone document.
    public func render() -> String {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            + "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"\(Self.number(width))\""
            + " height=\"\(Self.number(height))\" viewBox=\"0 0 \(Self.number(width)) \(Self.number(height))\""
            + " font-family=\"Helvetica, Arial, sans-serif\">\n"
            + body.joined(separator: "\n") + "\n</svg>\n"
    }
}
