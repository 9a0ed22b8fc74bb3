internal import Synchronization

/// Counts of what ``ValueSpill`` found on reads, for tests, the demo and dashboards (the same
/// events are also counted through swift-metrics).
public final class SpillStats: Sendable {
    /// A snapshot of the counts.
    public struct Counts: Sendable, Hashable {
        /// Pointers whose blob was missing (`spillway_blob_misses_total`).
        public var blobMisses: Int
        /// Pointers or blobs that failed verification (`spillway_blob_corruption_total`).
        public var corruption: Int
        /// Pointers bound to another key, or written with another deployment secret, read as
        /// misses (`spillway_blob_foreign_total`).
        public var foreign: Int
        /// Pointers naming a blob store this instance does not have, read as misses
        /// (`spillway_blob_unknown_store_total`).
        public var unknownStore: Int

        /// Creates counts.
        public init(blobMisses: Int = 0, corruption: Int = 0, foreign: Int = 0, unknownStore: Int = 0) {
            self.blobMisses = blobMisses
            self.corruption = corruption
            self.foreign = foreign
            self.unknownStore = unknownStore
        }
    }

    @usableFromInline
    enum Event: Sendable {
        case blobMiss, corruption, foreign, unknownStore
    }

    private let blobMisses = Atomic<Int>(0)
    private let corruption = Atomic<Int>(0)
    private let foreign = Atomic<Int>(0)
    private let unknownStore = Atomic<Int>(0)

    /// Creates zeroed counts.
    public init() {}

    /// The counts so far.
    public var counts: Counts {
        Counts(
            blobMisses: blobMisses.load(ordering: .relaxed), corruption: corruption.load(ordering: .relaxed),
            foreign: foreign.load(ordering: .relaxed), unknownStore: unknownStore.load(ordering: .relaxed)
        )
    }

    @usableFromInline
    func record(_ event: Event) {
        switch event {
        case .blobMiss: blobMisses.add(1, ordering: .relaxed)
        case .corruption: corruption.add(1, ordering: .relaxed)
        case .foreign: foreign.add(1, ordering: .relaxed)
        case .unknownStore: unknownStore.add(1, ordering: .relaxed)
        }
    }
}
