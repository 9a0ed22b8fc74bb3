internal import NIOCore

// The blob file format: a header (magic, expiry, creation time, length, owner key), then the content.
extension FileBlobStore {
    /// The header: magic(8) expiry(8) createdAt(8) length(8) ownerLength(4) owner(k).
    static func header(_ length: Int, _ metadata: BlobMetadata) -> [UInt8] {
        var b = ByteBuffer()
        b.reserveCapacity(headerFixedSize + (metadata.ownerKey?.count ?? 0))
        b.writeBytes(fileMagic)
        b.writeInteger(metadata.expiresAt?.millisecondsSince1970 ?? Int64.min)
        b.writeInteger(metadata.createdAt.millisecondsSince1970)
        b.writeInteger(UInt64(length))
        if let owner = metadata.ownerKey {
            b.writeInteger(UInt32(owner.count))
            b.writeImmutableBuffer(owner.bytes)
        } else {
            b.writeInteger(noOwner)
        }
        return Array(b.readableBytesView)
    }

    /// Parses a header, leaving `buffer`'s readable bytes on the content.
    static func parse(_ buffer: inout ByteBuffer, contentMayBeShort: Bool = false) -> (length: Int, metadata: BlobMetadata)? {
        guard buffer.readableBytes >= headerFixedSize,
            buffer.readBytes(length: 8) == fileMagic,
            let expiry = buffer.readInteger(as: Int64.self),
            let created = buffer.readInteger(as: Int64.self),
            let length = buffer.readInteger(as: UInt64.self), length <= UInt64(Int.max),
            let ownerLength = buffer.readInteger(as: UInt32.self)
        else { return nil }
        var owner: CacheKey?
        if ownerLength != noOwner {
            guard let bytes = buffer.readSlice(length: Int(ownerLength)) else { return nil }
            owner = CacheKey(bytes: bytes)
        }
        if !contentMayBeShort && buffer.readableBytes != Int(length) {
            // A length that does not match the file: leave the verification to the pointer's
            // length and digest, which will fail; but never read past the end.
            if buffer.readableBytes < Int(length) { return nil }
        }
        let metadata = BlobMetadata(
            createdAt: BlobTimestamp(millisecondsSince1970: created),
            expiresAt: expiry == Int64.min ? nil : BlobTimestamp(millisecondsSince1970: expiry),
            ownerKey: owner
        )
        return (Int(length), metadata)
    }
}
