import NIOCore
import Spillway
import SpillwayRedis

/// libFuzzer entry point: decodes the input as a stream of RESP values and checks the decoder's
/// contract on every input:
/// - it never crashes, and fails only with `.protocolError` or `.tooLarge` (the reply cap);
/// - a decoded value consumes at least one byte;
/// - feeding the bytes in two pieces (split at a point chosen by the input), or in chunks of a
///   size chosen by the input, to one decoder that keeps its place between pieces decodes to
///   exactly the same values, and fails (or not) the same way, as feeding them at once.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRESP(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let limits = RESPDecoder.Limits(maxDepth: 16, maxBulkLength: 1 << 20, maxAggregateCount: 1 << 16, maxLineLength: 4096, maxReplyBytes: 1 << 16)
    let expected = feed(bytes, limits: limits, pieces: [size])

    let split = size == 0 ? 0 : Int(bytes[0]) % (size + 1)
    let halves = feed(bytes, limits: limits, pieces: [split, size - split])
    precondition(halves.values == expected.values, "split decoding differs from whole decoding")
    precondition(halves.error == expected.error, "split decoding fails differently")

    let chunk = size < 2 ? 1 : 1 + Int(bytes[1]) % 64
    var chunks = Array(repeating: chunk, count: size / chunk)
    if size % chunk > 0 { chunks.append(size % chunk) }
    let chunked = feed(bytes, limits: limits, pieces: chunks)
    precondition(chunked.values == expected.values, "chunked decoding differs from whole decoding")
    precondition(chunked.error == expected.error, "chunked decoding fails differently")
    return 0
}

/// Feeds `bytes` to one decoder in pieces of the given sizes, decoding after each.
private func feed(_ bytes: UnsafeBufferPointer<UInt8>, limits: RESPDecoder.Limits, pieces: [Int]) -> (values: [RESPValue], error: CacheError.Code?) {
    var decoder = RESPDecoder(limits: limits)
    var buffer = ByteBuffer()
    var values: [RESPValue] = []
    var offset = 0
    for piece in pieces {
        buffer.writeBytes(bytes[offset..<offset + piece])
        offset += piece
        while true {
            let before = buffer.readerIndex
            do {
                guard let value = try decoder.decode(&buffer) else { break }
                precondition(buffer.readerIndex > before, "a decoded value consumed nothing")
                values.append(value)
            } catch {
                precondition(error.code == .protocolError || error.code == .tooLarge, "unexpected error code \(error.code)")
                precondition(!decoder.isInsideReply, "a failed decoder kept a partial reply")
                return (values, error.code)
            }
        }
    }
    return (values, nil)
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
