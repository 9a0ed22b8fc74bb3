/// The faults a ``FaultProxy`` applies to the bytes flowing in one direction, named after
/// Toxiproxy's toxics. Changes apply to bytes read after the change.
public struct ProxyToxics: Sendable, Hashable {
    /// A delay added to every chunk read, before it is passed on. Order is preserved.
    public var latency: Duration
    /// An extra delay drawn uniformly from `0 ... jitter` per chunk, from the proxy's seeded
    /// generator, added to ``latency``.
    public var jitter: Duration
    /// The most bytes per second passed on, or `nil` for no limit.
    public var bytesPerSecond: Int?
    /// When set, bytes are passed on in chunks of at most this many bytes, each its own write
    /// and flush (exercises a decoder with partial frames).
    public var sliceSize: Int?
    /// A pause between two slices (with ``sliceSize``).
    public var sliceDelay: Duration
    /// When set, each connection is reset (RST) once this many bytes have passed in this
    /// direction: the first bytes up to the limit are delivered, then the connection is cut.
    public var resetAfterBytes: Int?
    /// Drop every byte read in this direction: the peer never answers. Connections that saw a
    /// blackhole have lost bytes, so cut them before you use them again.
    public var blackhole: Bool

    /// Creates toxics; the defaults pass everything through untouched.
    public init(
        latency: Duration = .zero, jitter: Duration = .zero, bytesPerSecond: Int? = nil, sliceSize: Int? = nil,
        sliceDelay: Duration = .zero, resetAfterBytes: Int? = nil, blackhole: Bool = false
    ) {
        self.latency = latency
        self.jitter = jitter
        self.bytesPerSecond = bytesPerSecond
        self.sliceSize = sliceSize
        self.sliceDelay = sliceDelay
        self.resetAfterBytes = resetAfterBytes
        self.blackhole = blackhole
    }

    /// No faults.
    public static let none = ProxyToxics()

    /// Whether bytes pass straight through.
    public var isEmpty: Bool { self == .none }
}
