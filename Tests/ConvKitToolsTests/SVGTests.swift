import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import ConvKitTools

/// Collects element names and attributes while parsing.
private final class ElementCollector: NSObject, XMLParserDelegate {
    var elements: [(name: String, attributes: [String: String])] = []
    var text = ""
    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                qualifiedName qName: String?, attributes attributeDict: [String: String] = [:]) {
        elements.append((elementName, attributeDict))
    }
    func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }
}

@Suite("SVG plot")
struct SVGTests {
    private func parse(_ svg: String) throws -> ElementCollector {
        let parser = XMLParser(data: Data(svg.utf8))
        let collector = ElementCollector()
        parser.delegate = collector
        let ok = parser.parse()
        #expect(ok, "not well-formed XML: \(String(describing: parser.parserError))")
        try #require(ok)
        return collector
    }

    @Test func plotIsWellFormedWithOneBarPerMeasuredRecord() throws {
        let report = BenchFixtures.report
        let svg = BenchPlot.svg(report)
        let doc = try parse(svg)
        #expect(doc.elements.first?.name == "svg")
        let bars = doc.elements.filter { $0.name == "rect" && $0.attributes["class"] == "bar" }
        #expect(bars.count == report.records.filter { $0.gflops != nil }.count)
        // One panel per thread count, each with a peak line.
        #expect(doc.elements.filter { $0.attributes["class"] == "panel" }.count == 2)
        #expect(doc.elements.filter { $0.attributes["class"] == "peak" }.count == 2)
        // Missing cells are marked, names are escaped and come back intact.
        #expect(doc.elements.filter { $0.attributes["class"] == "missing" }.count
                == report.records.filter { $0.gflops == nil }.count)
        #expect(doc.text.contains("tiny <&> \"layer\""))
        for backend in ["direct", "onednn", "winograd"] { #expect(doc.text.contains(backend)) }
        // Bars are inside the drawing and have non-negative heights.
        for bar in bars {
            let h = try #require(Double(bar.attributes["height"] ?? ""))
            let y = try #require(Double(bar.attributes["y"] ?? ""))
            #expect(h >= 0 && y >= 0)
        }
    }

    @Test func noPeakLineWhenThePeakIsUnknown() throws {
        var report = BenchFixtures.report
        report.peakGFLOPsPerThread = nil
        let doc = try parse(BenchPlot.svg(report))
        #expect(doc.elements.filter { $0.attributes["class"] == "peak" }.isEmpty)
    }

    @Test func writerEscapesAndFormatsNumbers() {
        #expect(SVGWriter.escape("a<b & \"c\" 'd'>") == "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;")
        #expect(SVGWriter.number(3) == "3")
        #expect(SVGWriter.number(2.345) == "2.35")
        #expect(SVGWriter.number(.nan) == "0")
    }

    @Test func niceScaleCoversTheMaximum() {
        for m in [0.7, 1, 9.5, 101, 202, 1234.5] {
            let (step, top) = BenchPlot.niceScale(m)
            #expect(top >= m && top / step <= 10 && top / step >= 1)
        }
    }
}
