import NIOCore
import NIOPosix
import Spillway
@testable import SpillwayRedis
import SpillwayTesting
import Testing

/// Tasks that prefer an event loop (`EventLoopTaskExecutor`) get connections on that loop and
/// stay on it across round trips; replies still go to the right command.
@Suite("Redis event-loop affinity on a real server")
struct RedisLoopAffinityTests {
    @Test("a task preferring a loop runs there, gets a connection on that loop, and gets its own replies")
    func affinity() async throws {
        try await RedisServer.withRedisServer { server in
            let client = try server.makeClient { $0.maxConnections = 8 }
            let executors = EventLoopTaskExecutor.all(in: MultiThreadedEventLoopGroup.singleton)
            #expect(executors.count == System.coreCount)
            let mismatches = try await withThrowingTaskGroup(of: Int.self) { group in
                for task in 0..<8 {
                    let executor = executors[task % executors.count]
                    group.addTask(executorPreference: executor) {
                        var mismatches = 0
                        for i in 0..<50 {
                            let reply = try await client.send("ECHO", "t\(task)-\(i)")
                            if reply.string != "t\(task)-\(i)" { mismatches += 1 }
                            // Back on the preferred loop after the round trip.
                            if MultiThreadedEventLoopGroup.currentEventLoop !== executor.eventLoop { mismatches += 1000 }
                        }
                        let connection = try await client.pool.lease()
                        defer { connection.release() }
                        if connection.eventLoop !== executor.eventLoop { mismatches += 1_000_000 }
                        return mismatches
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(mismatches == 0, "replies, the running loop and the connection's loop all match")
            #expect(client.connectionCount <= 8)
            await client.close()
        }
    }

    @Test("without a preference, the caller is never left on an event loop's thread after execute (run it in release too)")
    func callerNotLeftOnLoop() async throws {
        try await RedisServer.withRedisServer { server in
            let client = try server.makeClient { $0.maxConnections = 2 }
            let onLoop = try await withThrowingTaskGroup(of: Int.self) { group in
                for task in 0..<4 {
                    group.addTask {
                        var onLoop = 0
                        for i in 0..<50 {
                            _ = try await client.execute(.set(CacheKey("t\(task)"), ByteBuffer(string: "\(i)"), SetOptions()))
                            if MultiThreadedEventLoopGroup.currentEventLoop != nil { onLoop += 1 }
                            guard case .value(let value) = try await client.execute(.get(CacheKey("t\(task)"))), value == ByteBuffer(string: "\(i)") else {
                                return 1_000_000
                            }
                            if MultiThreadedEventLoopGroup.currentEventLoop != nil { onLoop += 1 }
                        }
                        return onLoop
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(onLoop == 0, "every reply right, and the caller back off the loops after every round trip")
            await client.close()
        }
    }

    @Test("without a preference, commands still work and connections spread over the group")
    func noAffinity() async throws {
        try await RedisServer.withRedisServer { server in
            let client = try server.makeClient { $0.maxConnections = 4 }
            let replies = try await withThrowingTaskGroup(of: Bool.self) { group in
                for task in 0..<16 {
                    group.addTask { try await client.send("ECHO", "n\(task)").string == "n\(task)" }
                }
                return try await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(replies.count == 16 && replies.allSatisfy { $0 })
            await client.close()
        }
    }
}
