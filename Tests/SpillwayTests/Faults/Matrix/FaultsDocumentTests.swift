import Foundation
import Testing

/// FAULTS.md shows the matrix; this keeps the document and the tests from drifting apart.
@Suite("FAULTS.md")
struct FaultsDocumentTests {
    /// The matrix as FAULTS.md shows it, generated from ``FaultMatrixExpectations``.
    static var table: String {
        let columns = ["GET", "SET small", "SET spilled", "DEL", "increment", "rate limit"]
        var lines = [
            "| fault | " + columns.joined(separator: " | ") + " | proven by |",
            "|---|" + String(repeating: "---|", count: columns.count) + "---|",
        ]
        for fault in MatrixFault.allCases {
            let cells = MatrixOperation.allCases.map { "`\(FaultMatrixExpectations.outcome(fault, $0))`" }
            lines.append("| \(fault.rawValue) | " + cells.joined(separator: " | ") + " | `cell(fault: .\(fault.rawValue), operation:)` |")
        }
        return lines.joined(separator: "\n")
    }

    @Test("FAULTS.md holds the matrix the tests check")
    func tableMatches() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("FAULTS.md"), encoding: .utf8)
        #expect(text.contains(Self.table), "FAULTS.md should contain:\n\(Self.table)")
    }
}
