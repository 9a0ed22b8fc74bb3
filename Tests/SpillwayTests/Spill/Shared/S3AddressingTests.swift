import Foundation
import NIOCore
import Spillway
import SpillwayPostgres
import SpillwayS3
import SpillwayTesting
import Testing

extension SharedStoreTests {
    /// S3BlobStore's virtual-hosted addressing and large blobs, against the real moto server.
    @Suite("S3: virtual-hosted addressing and large blobs")
    struct S3AddressingTests {
        /// A store that addresses the bucket as `spillway-test.localhost:<port>` (moto takes the
        /// bucket from a `Host` header that is not an IP address or `localhost…`), connecting to
        /// 127.0.0.1 because `*.localhost` does not resolve here.
        static func virtualStore(_ moto: MotoServer, prefix: String) throws -> S3BlobStore {
            try S3BlobStore(
                configuration: .init(
                    bucket: moto.bucket, endpoint: "http://localhost:\(moto.port)", region: moto.region, addressing: .virtualHosted, prefix: prefix,
                    accessKeyID: moto.accessKeyID, secretAccessKey: moto.secretAccessKey, connectTo: "127.0.0.1:\(moto.port)"))
        }

        @Test("virtual-hosted: put, get, scan, setExpiry and delete work with the bucket only in the Host header; path-style sees the same objects")
        func virtualHosted() async throws {
            let servers = try SharedStoreServers.get()
            let prefix = "vh\(UInt32.random(in: 0 ... .max))-"
            let store = try Self.virtualStore(servers.moto, prefix: prefix)
            let target = store.target(key: "k")
            #expect(target.host == "\(servers.moto.bucket).localhost:\(servers.moto.port)")
            #expect(target.path == "/k", "the bucket is not in the path")
            let now = BlobClock.wallNow()
            let id = try await store.put(spillBytes(70_000, seed: 3), metadata: BlobMetadata(createdAt: now))
            #expect(try await store.get(id) == spillBytes(70_000, seed: 3))
            #expect(try await store.scan(after: nil, limit: 10).blobs.map(\.id) == [id])
            #expect(try await store.setExpiry(id, BlobTimestamp(millisecondsSince1970: now.millisecondsSince1970 + 60_000)))
            // The same bucket through path-style addressing: the object is there, with its expiry.
            let path = try servers.s3Store(prefix: prefix)
            let listed = try await path.scan(after: nil, limit: 10).blobs
            #expect(listed.map(\.id) == [id])
            #expect(listed.first?.metadata.expiresAt?.millisecondsSince1970 == now.millisecondsSince1970 + 60_000)
            #expect(try await store.delete(id))
            #expect(try await path.get(id) == nil)
        }

        @Test("virtual-hosted with a wrong secret is refused (the signature covers the virtual Host)")
        func virtualHostedWrongSecret() async throws {
            let moto = try SharedStoreServers.get().moto
            var configuration = try Self.virtualStore(moto, prefix: "vhbad-").configuration
            configuration.secretAccessKey += "x"
            let bad = try S3BlobStore(configuration: configuration)
            do throws(CacheError) {
                _ = try await bad.put(spillBytes(10), metadata: BlobMetadata(createdAt: spillOrigin))
                Issue.record("a wrongly signed virtual-hosted put was accepted")
            } catch {
                #expect((error.underlying as? S3BlobStoreError)?.status == 403, "\(error)")
            }
        }

        @Test("an 8 MiB blob round-trips byte for byte, path-style and virtual-hosted, signed and unsigned payload")
        func largeBlob() async throws {
            let servers = try SharedStoreServers.get()
            let big = spillBytes(8 << 20, seed: 91)
            var unsigned = try servers.s3Store().configuration
            unsigned.payloadSigning = .unsigned
            let stores = [try servers.s3Store(), try Self.virtualStore(servers.moto, prefix: "vhbig-"), try S3BlobStore(configuration: unsigned)]
            for store in stores {
                let id = try await store.put(big, metadata: BlobMetadata(createdAt: spillOrigin))
                let back = try #require(try await store.get(id))
                #expect(back.readableBytes == big.readableBytes)
                #expect(back == big, "\(store.configuration.addressing), \(store.configuration.payloadSigning)")
                #expect(try await store.scan(after: nil, limit: 10).blobs.first { $0.id == id }?.length == 8 << 20)
                try await store.delete(id)
            }
        }

        @Test("an 8 MiB blob round-trips byte for byte through Postgres")
        func largeBlobPostgres() async throws {
            let servers = try SharedStoreServers.get()
            let big = spillBytes(8 << 20, seed: 92)
            try await servers.withPostgresStore { store in
                let id = try await store.put(big, metadata: BlobMetadata(createdAt: spillOrigin))
                #expect(try await store.get(id) == big)
            }
        }
    }
}
