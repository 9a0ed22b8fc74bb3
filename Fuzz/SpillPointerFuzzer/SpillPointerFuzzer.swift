import NIOCore
import Spillway

/// The libFuzzer callback: reads arbitrary bytes as a value from the cache, the way `ValueSpill`
/// does, and checks invariants that must hold for any input:
/// - decoding never traps;
/// - bytes without the full magic are raw and come back unchanged (no copy, same bytes);
/// - a decoded pointer re-encodes to exactly the input bytes (one encoding per pointer, so no
///   two byte strings name the same blob), and its store name is 1...255 bytes;
/// - an escaped value decodes to the input without its 9-byte prefix;
/// - any input, written as a raw value (`storedForm(ofRaw:)`), decodes back to itself: every
///   value round-trips, whatever it starts with;
/// - a pointer built from fields taken from the input round-trips through its encoding.
func spillPointerFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size)
    let value = ByteBuffer(bytes: bytes)

    switch SpillEnvelope.decode(value) {
    case .raw(let raw):
        if !SpillEnvelope.hasMagic(value) || value.readableBytes == SpillEnvelope.magic.count {
            precondition(raw == value, "a value without an envelope changed on read")
        } else if value.getInteger(at: SpillEnvelope.magic.count, as: UInt8.self) == SpillEnvelope.escapedKind {
            precondition(raw == value.getSlice(at: SpillEnvelope.magic.count + 1, length: value.readableBytes - SpillEnvelope.magic.count - 1), "an escaped value did not unescape")
        } else {
            precondition(raw == value, "a foreign value with the magic changed on read")
        }
    case .pointer(let pointer):
        precondition(SpillPointer.isValidStoreName(pointer.storeName))
        precondition(pointer.encoded() == value, "a pointer decoded from bytes it does not encode to")
        precondition(value.readableBytes <= SpillPointer.maxEncodedSize)
    case .malformed:
        precondition(SpillEnvelope.hasMagic(value), "bytes without the magic read as a malformed pointer")
    }

    // Every raw value round-trips.
    let stored = SpillEnvelope.storedForm(ofRaw: value)
    guard case .raw(let back) = SpillEnvelope.decode(stored) else {
        preconditionFailure("a raw value's stored form decodes as a pointer or malformed")
    }
    precondition(back == value, "a raw value did not round-trip")

    // A pointer made of the input's bytes round-trips.
    if size >= 66 {  // 1 + 16 + 8 + 16 + 16 + 1 + 8 bytes read below
        var b = value
        let nameLength = Int(b.readInteger(as: UInt8.self)! % 32) + 1
        let name = String(decoding: (0..<nameLength).map { UInt8(ascii: "a") + UInt8($0 % 26) }, as: UTF8.self)
        let pointer = SpillPointer(
            storeName: name, id: BlobID(high: b.readInteger()!, low: b.readInteger()!), length: b.readInteger()!,
            digest: XXH128Digest(high: b.readInteger()!, low: b.readInteger()!),
            keyDigest: XXH128Digest(high: b.readInteger()!, low: b.readInteger()!),
            expiresAt: b.readInteger(as: UInt8.self)! & 1 == 0 ? nil : BlobTimestamp(millisecondsSince1970: b.readInteger()!)
        )
        guard case .pointer(let decoded) = SpillEnvelope.decode(pointer.encoded()) else {
            preconditionFailure("an encoded pointer did not decode")
        }
        precondition(decoded == pointer, "a pointer did not round-trip")
    }
    return 0
}
