public import NIOCore
internal import Logging

// Reads through the spill: resolving pointers and verifying the blobs they name.
extension ValueSpill {
    /// The value a caller sees for bytes read from the cache: raw bytes, or the verified blob, or
    /// `nil` (a counted miss).
    /// - Throws: `.blobStore` when the store cannot be read.
    @usableFromInline
    func resolve(_ value: ByteBuffer, key: CacheKey?, _ context: CacheContext) async throws(CacheError) -> ByteBuffer? {
        switch SpillEnvelope.decode(value) {
        case .raw(let raw):
            return raw
        case .malformed(let reason):
            metrics.increment(SpillMetrics.blobCorruption, route: context.route)
            stats.record(.corruption)
            context.logger.error("spill pointer does not decode; treated as a miss", metadata: ["key": "\(key?.preview() ?? "-")", "reason": "\(reason.rawValue)"])
            return nil
        case .pointer(let pointer):
            return try await resolve(pointer, key: key, context)
        }
    }

    @usableFromInline
    func resolve(_ pointer: SpillPointer, key: CacheKey?, _ context: CacheContext) async throws(CacheError) -> ByteBuffer? {
        guard let key, pointer.keyDigest == keyDigest(key) else {
            metrics.increment(SpillMetrics.blobForeign, route: context.route)
            stats.record(.foreign)
            context.logger.warning(
                "spill pointer is bound to another key (copied, or written with another secret); treated as a miss",
                metadata: ["key": "\(key?.preview() ?? "-")", "blob": "\(pointer.id)"]
            )
            return nil
        }
        let blob: ByteBuffer?
        do {
            if pointer.storeName == store.name {
                blob = try await store.get(pointer.id)
            } else if let other = readStore(named: pointer.storeName) {
                blob = try await other.get(pointer.id)
            } else {
                unknownStore(pointer, key: key, context)
                return nil
            }
        } catch {
            guard error.code == .corruption else { throw error }
            corrupted(pointer, key: key, detail: "\(error)", context)
            return nil
        }
        guard let blob else {
            metrics.increment(SpillMetrics.blobMisses, route: context.route)
            stats.record(.blobMiss)
            context.logger.debug("spilled blob is missing; treated as a miss", metadata: ["key": "\(key.preview())", "blob": "\(pointer.id)"])
            return nil
        }
        guard blob.readableBytes == pointer.length else {
            corrupted(pointer, key: key, detail: "length \(blob.readableBytes), expected \(pointer.length)", context)
            return nil
        }
        let digest = XXH3.hash128(blob, secret: secret)
        guard digest == pointer.digest else {
            corrupted(pointer, key: key, detail: "keyed XXH3-128 \(digest), expected \(pointer.digest)", context)
            return nil
        }
        return blob
    }

    @usableFromInline
    func resolveAll(_ values: [ByteBuffer?], keys: [CacheKey], _ context: CacheContext) async throws(CacheError) -> [ByteBuffer?] {
        var out = values
        for i in values.indices {
            if let value = values[i], SpillEnvelope.mayBeEnvelope(value) {
                out[i] = try await resolve(value, key: i < keys.count ? keys[i] : nil, context)
            }
        }
        return out
    }

    /// A pointer to a store this instance does not have: a counted miss, logged once per name.
    func unknownStore(_ pointer: SpillPointer, key: CacheKey, _ context: CacheContext) {
        metrics.increment(SpillMetrics.blobUnknownStore, route: context.route)
        stats.record(.unknownStore)
        if unknownStores.firstSighting(of: pointer.storeName) {
            context.logger.warning(
                "spill pointer names a blob store this instance does not have; treated as a miss (logged once per store)",
                metadata: ["key": "\(key.preview())", "store": "\(pointer.storeName)", "known": "\(([store.name] + readStores.map(\.name)).joined(separator: ","))"]
            )
        }
    }

    func corrupted(_ pointer: SpillPointer, key: CacheKey?, detail: String, _ context: CacheContext) {
        metrics.increment(SpillMetrics.blobCorruption, route: context.route)
        stats.record(.corruption)
        context.logger.error(
            "spilled blob failed verification (corruption); treated as a miss",
            metadata: ["key": "\(key?.preview() ?? "-")", "blob": "\(pointer.id)", "store": "\(pointer.storeName)", "detail": "\(detail)"]
        )
    }
}
