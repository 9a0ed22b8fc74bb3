import Synchronization

/// Hands out request numbers to workers, in order.
final class SoakTicket: Sendable {
    private let counter = Atomic<Int>(0)

    func next() -> Int { counter.wrappingAdd(1, ordering: .relaxed).oldValue }
}
