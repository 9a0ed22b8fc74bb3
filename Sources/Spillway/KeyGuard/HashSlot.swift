/// Redis Cluster's key-to-slot arithmetic, in the core so that ``KeyHasher`` can keep a slot
/// without the Redis module: `CRC16(tag or key) mod 16384`, CRC-16/XMODEM (polynomial 0x1021,
/// initial value 0, no reflection, no final XOR).
///
/// It also builds the **slot-keeping tag** of key-format version 2: `#` and four letters from
/// `@ABCDEFGHIJKLMNO` chosen so that the tag's content hashes to a given slot. CRC-16/XMODEM is
/// linear over GF(2) for messages of one length, and the four letters' low nibbles (16 free bits)
/// reach every value of the slot's 14 bits, so each slot has a solution; ``slotKeepingTag(slot:)``
/// picks one by a fixed rule (no search), so every process writes the same letters for a slot.
package enum HashSlot {
    /// The number of hash slots.
    package static let count = 16384

    /// CRC-16/XMODEM of `bytes`.
    @inlinable
    package static func crc16<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc = (crc << 8) ^ table[Int(UInt8(truncatingIfNeeded: crc >> 8) ^ byte)]
        }
        return crc
    }

    /// The slot of a hash tag's content (or of a whole key without a tag).
    @inlinable
    package static func slot<Bytes: Collection<UInt8>>(hashing bytes: Bytes) -> Int {
        Int(crc16(bytes) & 0x3FFF)
    }

    /// CRC-16/XMODEM of contiguous bytes. Not generic: the Redis Cluster client computes a slot
    /// per command, and the generic ``crc16(_:)`` reached from another module ran unspecialized
    /// (a `Slice` walked through witness tables, generic metadata looked up per byte): 10% of the
    /// cluster client's CPU in `perf`.
    package static func crc16(contiguous bytes: UnsafeRawBufferPointer) -> UInt16 {
        table.withUnsafeBufferPointer { table in
            var crc: UInt16 = 0
            for byte in bytes {
                crc = (crc << 8) ^ table[Int(UInt8(truncatingIfNeeded: crc >> 8) ^ byte)]
            }
            return crc
        }
    }

    /// The slot of a whole key given as contiguous bytes: its hash tag's content when it has one
    /// (Redis's rule, found with `memchr` as ``KeyHasher`` finds it), else the whole key.
    package static func slot(ofKey key: UnsafeRawBufferPointer) -> Int {
        let hashed = KeyHasher.hashTag(in: key).map { UnsafeRawBufferPointer(rebasing: key[$0]) } ?? key
        return Int(crc16(contiguous: hashed) & 0x3FFF)
    }

    @usableFromInline
    package static let table: [UInt16] = (0..<256).map { (index: Int) -> UInt16 in
        var crc = UInt16(index) << 8
        for _ in 0..<8 {
            crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1
        }
        return crc
    }

    /// The five bytes `#` + four letters (`0x40 | nibble`) whose CRC-16 modulo 16384 is `slot`.
    package static func slotKeepingTag(slot: Int) -> (UInt8, UInt8, UInt8, UInt8, UInt8) {
        // crc("#" + letters) = crc("#@@@@") ⊕ crc(nibbles): solve crc(nibbles) = slot ⊕ base.
        var nibbles: UInt16 = 0
        let wanted = UInt16(slot & 0x3FFF) ^ baseSlotBits
        for bit in 0..<14 where wanted & (1 << bit) != 0 { nibbles ^= slotBasis[bit] }
        func letter(_ shift: UInt16) -> UInt8 { 0x40 | UInt8(truncatingIfNeeded: (nibbles >> shift) & 0xF) }
        return (UInt8(ascii: "#"), letter(12), letter(8), letter(4), letter(0))
    }

    /// The slot bits of `#@@@@` (all nibbles zero).
    private static let baseSlotBits: UInt16 = crc16([UInt8(ascii: "#"), 0x40, 0x40, 0x40, 0x40]) & 0x3FFF

    /// The CRC's slot bits of four bytes holding the nibbles of `nibbles` (high nibble first).
    private static func slotBits(ofNibbles nibbles: UInt16) -> UInt16 {
        let bytes = [UInt8(nibbles >> 12 & 0xF), UInt8(nibbles >> 8 & 0xF), UInt8(nibbles >> 4 & 0xF), UInt8(nibbles & 0xF)]
        return crc16(bytes) & 0x3FFF
    }

    /// For each of the slot's 14 bits, nibbles whose slot bits are that bit alone: Gauss-Jordan
    /// elimination over GF(2) of the 16 single-bit nibble vectors.
    private static let slotBasis: [UInt16] = {
        var pivots: [(bit: Int, nibbles: UInt16, bits: UInt16)] = []
        for input in 0..<16 {
            var row = (nibbles: UInt16(1) << input, bits: slotBits(ofNibbles: UInt16(1) << input))
            for pivot in pivots where row.bits & (1 << pivot.bit) != 0 {
                row.nibbles ^= pivot.nibbles
                row.bits ^= pivot.bits
            }
            guard row.bits != 0 else { continue }
            let bit = row.bits.trailingZeroBitCount
            for i in pivots.indices where pivots[i].bits & (1 << bit) != 0 {
                pivots[i].nibbles ^= row.nibbles
                pivots[i].bits ^= row.bits
            }
            pivots.append((bit, row.nibbles, row.bits))
        }
        precondition(pivots.count == 14, "the slot-keeping letters must reach every slot")
        var basis = [UInt16](repeating: 0, count: 14)
        for pivot in pivots {
            precondition(pivot.bits == 1 << pivot.bit)
            basis[pivot.bit] = pivot.nibbles
        }
        return basis
    }()
}
