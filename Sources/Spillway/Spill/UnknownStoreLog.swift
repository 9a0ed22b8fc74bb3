internal import Synchronization

/// Remembers which unknown store names a ``ValueSpill`` has already logged, so that a pointer to
/// a store this instance lacks is logged once per name, not once per read. Copies of the
/// middleware share it. At most ``capacity`` names are remembered; past that, nothing more is
/// logged (the reads are still counted).
@usableFromInline
final class UnknownStoreLog: Sendable {
    /// The most names remembered.
    static let capacity = 64
    private let seen = Mutex<Set<String>>([])

    /// Creates an empty log.
    init() {}

    /// Whether `name` is seen here for the first time (and is now remembered).
    func firstSighting(of name: String) -> Bool {
        seen.withLock { seen in
            guard seen.count < Self.capacity, !seen.contains(name) else { return false }
            seen.insert(name)
            return true
        }
    }
}
