import ConvKit
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes output files atomically: the text goes to a temporary file in the destination's
/// directory, which is then renamed over the destination. Readers never see a partial
/// file, and when anything fails no file (and no temporary file) is left behind.
public enum BenchOutputFile {
    /// Writes `text` (UTF-8) to `path` atomically.
    /// - Throws: ``ConvError/invalidFile(path:reason:)`` when the directory does not exist or
    ///   is not writable, or the rename fails.
    public static func write(_ text: String, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent()
        let temporary = directory.appendingPathComponent(
            ".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        do {
            try Data(text.utf8).write(to: temporary)
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw ConvError.invalidFile(path: path, reason: "cannot write (\(error.localizedDescription))")
        }
        if rename(temporary.path, url.path) != 0 {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw ConvError.invalidFile(path: path, reason: "cannot replace the file (\(reason))")
        }
    }
}
