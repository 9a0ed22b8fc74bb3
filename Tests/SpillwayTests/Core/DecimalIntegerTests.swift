import Spillway
import Testing

/// The one decimal-integer parser (RESP, MemoryCache, the in-process test server).
@Suite("DecimalInteger")
struct DecimalIntegerTests {
    static func parse(_ text: String) -> Result<Int64, DecimalInteger.Failure> {
        Array(text.utf8).withUnsafeBytes { bytes in
            do throws(DecimalInteger.Failure) {
                return .success(try DecimalInteger.parse(bytes))
            } catch {
                return .failure(error)
            }
        }
    }

    @Test(
        "signs, zeros and both ends of Int64",
        arguments: [
            ("0", Int64(0)), ("-0", 0), ("+7", 7), ("-7", -7), ("007", 7), ("1764164000", 1_764_164_000),
            ("9223372036854775807", .max), ("-9223372036854775808", .min),
        ])
    func values(text: String, value: Int64) {
        #expect(Self.parse(text) == .success(value))
    }

    @Test(
        "what is not an integer says why",
        arguments: [
            ("", DecimalInteger.Failure.empty), ("-", .empty), ("+", .empty),
            ("1a", .nonDigit), (" 1", .nonDigit), ("1 ", .nonDigit), ("--1", .nonDigit), ("1.0", .nonDigit), ("١", .nonDigit),
            ("9223372036854775808", .overflow), ("-9223372036854775809", .overflow), ("99999999999999999999999", .overflow),
        ])
    func failures(text: String, failure: DecimalInteger.Failure) {
        #expect(Self.parse(text) == .failure(failure))
    }

    @Test("agrees with Int64(String) on a seeded sample of texts")
    func agreesWithStandardLibrary() {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        let alphabet = Array("0123456789-+ a9".utf8)
        for _ in 0..<5000 {
            let length = Int(next() % 22)
            let bytes = (0..<length).map { _ in alphabet[Int(next() % UInt64(alphabet.count))] }
            let text = String(decoding: bytes, as: UTF8.self)
            let ours = bytes.withUnsafeBytes { DecimalInteger.parseOrNil($0) }
            #expect(ours == Int64(text), "\(text)")
        }
    }
}
