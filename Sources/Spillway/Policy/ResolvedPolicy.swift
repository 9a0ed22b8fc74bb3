/// A resolved policy, shared by reference.
///
/// ``PolicyTable`` resolves every route and prefix combination once, at init, into one of
/// these; each operation's ``CacheContext`` then points at it. Handing a context down the chain
/// copies one reference instead of the whole ``CachePolicy`` (some 130 bytes with a dictionary in
/// it), which is most of what passing a context costs.
@usableFromInline
final class ResolvedPolicy: Sendable {
    @usableFromInline let policy: CachePolicy

    @usableFromInline
    init(_ policy: CachePolicy) {
        self.policy = policy
    }
}
