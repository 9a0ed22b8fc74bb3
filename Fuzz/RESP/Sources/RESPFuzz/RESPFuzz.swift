import NIOCore
import Spillway
import SpillwayRedis

/// libFuzzer entry point: decodes the input as a stream of RESP values and checks the decoder's
/// contract on every input:
/// - it never crashes, and fails only with `.protocolError`;
/// - "incomplete" leaves the buffer untouched, a decoded value consumes at least one byte;
/// - feeding the bytes in two pieces (split at a point chosen by the input) decodes to exactly
///   the same values as feeding them at once.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRESP(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let decoder = RESPDecoder(limits: .init(maxDepth: 16, maxBulkLength: 1 << 20, maxAggregateCount: 1 << 16, maxLineLength: 4096))

    var whole = ByteBuffer(bytes: bytes)
    let expected = drain(&whole, decoder)

    let split = size == 0 ? 0 : Int(bytes[0]) % (size + 1)
    var pieces = ByteBuffer(bytes: bytes[0..<split])
    var first = drain(&pieces, decoder)
    if first.error == nil {
        pieces.writeBytes(bytes[split...])
        let second = drain(&pieces, decoder)
        first.values += second.values
        first.error = second.error
    }
    precondition(first.values == expected.values, "split decoding differs from whole decoding")
    precondition((first.error == nil) == (expected.error == nil), "split decoding fails differently")
    return 0
}

private func drain(_ buffer: inout ByteBuffer, _ decoder: RESPDecoder) -> (values: [RESPValue], error: CacheError?) {
    var values: [RESPValue] = []
    while true {
        let before = buffer.readerIndex
        do {
            guard let value = try decoder.decode(&buffer) else {
                precondition(buffer.readerIndex == before, "an incomplete decode moved the reader index")
                return (values, nil)
            }
            precondition(buffer.readerIndex > before, "a decoded value consumed nothing")
            values.append(value)
        } catch {
            precondition(error.code == .protocolError, "unexpected error code \(error.code)")
            return (values, error)
        }
    }
}

// SwiftPM links an executable with `main` defined as `RESPFuzz_main`, so libFuzzer's own `main`
// is not linked in: start its driver from here.
@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
) -> CInt

@_cdecl("RESPFuzz_main")
public func respFuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzRESP(data, size) }
}
