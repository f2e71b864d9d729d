import ConvKit
import Foundation
import Testing
@testable import ConvKitTools

@Suite("Bench output formats")
struct BenchFormatTests {
    @Test func csvHeaderAndRows() throws {
        let report = BenchFixtures.report
        let csv = BenchCSV.render(report.records)
        let lines = csv.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.first?.hasPrefix("layer,backend,threads,median_ms,gflops,max_err,status,") == true)
        #expect(lines.count == report.records.count + 2) // header, rows, final empty
        #expect(lines.last == "")
        // The second layer's name contains a comma: quoted. The first: a quote, doubled.
        #expect(csv.contains("\n\"wide,layer\",direct,1,0.002,"))
        #expect(csv.contains("\n\"tiny <&> \"\"layer\"\"\",onednn,2,"))
        // One cell per column in every row (names with commas are quoted, so count after them).
        let columns = BenchRecord.columns.count
        for r in report.records { #expect(r.csvFields.count == columns) }
        // An unsupported cell: empty numbers, status and reason.
        #expect(csv.contains("\n\"wide,layer\",winograd,1,,,,unsupported,"))
        #expect(csv.contains(",only 3x3 kernels,"))
    }

    @Test func csvNumbersArePlainDecimals() {
        #expect(BenchNumber.plain(3) == "3")
        #expect(BenchNumber.plain(12.5) == "12.5")
        #expect(BenchNumber.plain(1.5e-7) == "0.00000015")
        #expect(BenchNumber.plain(-2.25e-5) == "-0.0000225")
        #expect(BenchNumber.plain(1.5e20) == "150000000000000000000")
        #expect(BenchNumber.plain(0.1) == "0.1")
        #expect(BenchNumber.plain(123456.789) == "123456.789")
        #expect(Double(BenchNumber.plain(1.2345678901234567e-9)) == 1.2345678901234567e-9)
    }

    @Test func jsonDecodesBackToTheSameRecords() throws {
        let report = BenchFixtures.report
        let json = try BenchJSON.render(report.records)
        let decoded = try JSONDecoder().decode([BenchRecord].self, from: Data(json.utf8))
        #expect(decoded == report.records)
        // Stable keys: missing values are null, keys are the CSV columns.
        let objects = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]])
        #expect(objects.count == report.records.count)
        #expect(Set(objects[0].keys) == Set(BenchRecord.columns))
        #expect(objects.first { $0["status"] as? String == "unsupported" }?["median_ms"] is NSNull)
    }

    @Test func tableShowsEveryCellAndTheSummaries() {
        let table = BenchTableFormatter.render(BenchFixtures.report)
        for layer in BenchFixtures.layers { #expect(table.contains(layer.name)) }
        #expect(table.contains("unsupported: only 3x3 kernels"))
        #expect(table.contains("failed: backend 'winograd'"))
        #expect(table.contains("onednn (primitive only)"))
        #expect(table.contains("vs onednn") && table.contains("% peak"))
        #expect(table.contains("1.25x")) // direct takes 1/1.25 of onednn's time
        #expect(table.contains("geometric mean"))
        #expect(table.contains("one-time costs"))
        #expect(table.contains("0.2500 / 0.0625"))
        #expect(table.contains("1.5e-07"))
    }

    @Test func speedupAndPeakColumns() throws {
        let records = BenchFixtures.report.records
        let direct = try #require(records.first { $0.backend == "direct" && $0.threads == 2 })
        #expect(abs((direct.speedupVsOnednn ?? 0) - 1.25) < 1e-12)
        let peak = try #require(direct.peakPct)
        #expect(abs(peak - 100 * direct.gflops! / 202) < 1e-9)
        let onednn = try #require(records.first { $0.backend == "onednn" })
        #expect(onednn.speedupVsOnednn == 1)
        // More threads than cores do not raise the peak.
        #expect(BenchFixtures.report.peak(threads: 4) == 202)
        #expect(BenchFixtures.report.peak(threads: 1) == 101)
    }

    @Test func geometricMean() {
        #expect(BenchTableFormatter.geometricMean([]) == nil)
        #expect(abs(BenchTableFormatter.geometricMean([2, 8])! - 4) < 1e-12)
    }
}
