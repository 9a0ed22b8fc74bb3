import Testing
import SpillwayPolicyFile

@Suite("Policy file units")
struct PolicyUnitTests {
    @Test(
        "sizes: plain bytes, binary and decimal units",
        arguments: [
            ("4096", 4096), ("0", 0), ("16KiB", 16 * 1024), ("1MiB", 1 << 20), ("2GiB", 2 << 30),
            ("10kB", 10_000), ("10KB", 10_000), ("5MB", 5_000_000), ("512B", 512),
        ])
    func sizes(text: String, bytes: Int) throws {
        #expect(try ByteSize.parse(text) == bytes)
    }

    @Test(
        "bad sizes say what is wrong",
        arguments: [
            ("16kib", "unknown size unit 'kib'"), ("1.5MiB", "fraction"), ("16 KiB", "without a space"),
            ("-1", "negative"), ("KiB", "expected a size"), ("99999999999999999999", "too large"),
            ("9000000TiB", "too large"), ("16Kib", "did you mean 'KiB'?"),
        ])
    func badSizes(text: String, expected: String) {
        #expect {
            try ByteSize.parse(text)
        } throws: { error in
            (error as? UnitError)?.message.contains(expected) == true
        }
    }

    @Test(
        "durations: ms, s, m, h, d and compounds",
        arguments: [
            ("500ms", Duration.milliseconds(500)), ("90s", .seconds(90)), ("5m", .seconds(300)),
            ("1h", .seconds(3600)), ("1d", .seconds(86_400)), ("1h30m", .seconds(5400)), ("2m500ms", .milliseconds(120_500)),
        ])
    func durations(text: String, duration: Duration) throws {
        #expect(try DurationText.parse(text) == duration)
    }

    @Test(
        "bad durations say what is wrong",
        arguments: [
            ("60", "needs a unit"), ("1.5s", "fraction"), ("5min", "did you mean 'm'"), ("30m1h", "largest unit down"),
            ("", "expected a duration"), ("s", "expected a duration"), ("99999999999999999d", "too large"), ("5 s", "unexpected"),
        ])
    func badDurations(text: String, expected: String) {
        #expect {
            try DurationText.parse(text)
        } throws: { error in
            (error as? UnitError)?.message.contains(expected) == true
        }
    }

    @Test("formatting gives the shortest exact text")
    func format() {
        #expect(ByteSize.format(16 * 1024) == "16KiB")
        #expect(ByteSize.format(1000) == "1000")
        #expect(ByteSize.format(3 << 20) == "3MiB")
        #expect(DurationText.format(.seconds(5400)) == "1h30m")
        #expect(DurationText.format(.milliseconds(1500)) == "1s500ms")
        #expect(ByteSize.human(5 * 1024 * 1024) == "5.0 MiB")
    }
}
