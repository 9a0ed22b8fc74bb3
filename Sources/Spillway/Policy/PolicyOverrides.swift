/// A partial policy: the fields a route or a key prefix sets. `nil` fields inherit.
public struct PolicyOverrides: Sendable, Hashable {
    /// See ``CachePolicy/maxKeyBytes``.
    public var maxKeyBytes: Int?
    /// See ``CachePolicy/keyOverflow``.
    public var keyOverflow: KeyOverflow?
    /// See ``CachePolicy/spillAbove``. `.some(nil)` disables spilling.
    public var spillAbove: Int??
    /// See ``CachePolicy/maxValueBytes``.
    public var maxValueBytes: Int?
    /// See ``CachePolicy/requireTTL``.
    public var requireTTL: Bool?
    /// See ``CachePolicy/maxTTL``.
    public var maxTTL: Duration?
    /// See ``CachePolicy/onOOM``.
    public var onOOM: DegradeAction?
    /// See ``CachePolicy/onFailure``; merged key by key over the inherited table.
    public var onFailure: [OtherFailureClass: DegradeAction]?
    /// See ``CachePolicy/onReadFailure``.
    public var onReadFailure: ReadFailureAction?
    /// See ``CachePolicy/priority``.
    public var priority: WritePriority?
    /// See ``CachePolicy/throttle``.
    public var throttle: ThrottlePolicy?

    /// Creates overrides; every field is optional.
    public init(
        maxKeyBytes: Int? = nil, keyOverflow: KeyOverflow? = nil, spillAbove: Int?? = nil, maxValueBytes: Int? = nil,
        requireTTL: Bool? = nil, maxTTL: Duration? = nil, onOOM: DegradeAction? = nil,
        onFailure: [OtherFailureClass: DegradeAction]? = nil, onReadFailure: ReadFailureAction? = nil,
        priority: WritePriority? = nil, throttle: ThrottlePolicy? = nil
    ) {
        self.maxKeyBytes = maxKeyBytes
        self.keyOverflow = keyOverflow
        self.spillAbove = spillAbove
        self.maxValueBytes = maxValueBytes
        self.requireTTL = requireTTL
        self.maxTTL = maxTTL
        self.onOOM = onOOM
        self.onFailure = onFailure
        self.onReadFailure = onReadFailure
        self.priority = priority
        self.throttle = throttle
    }

    /// Applies these overrides on top of a policy.
    public func applied(to base: CachePolicy) -> CachePolicy {
        var p = base
        if let maxKeyBytes { p.maxKeyBytes = maxKeyBytes }
        if let keyOverflow { p.keyOverflow = keyOverflow }
        if let spillAbove { p.spillAbove = spillAbove }
        if let maxValueBytes { p.maxValueBytes = maxValueBytes }
        if let requireTTL { p.requireTTL = requireTTL }
        if let maxTTL { p.maxTTL = maxTTL }
        if let onOOM { p.onOOM = onOOM }
        if let onFailure { p.onFailure.merge(onFailure) { _, new in new } }
        if let onReadFailure { p.onReadFailure = onReadFailure }
        if let priority { p.priority = priority }
        if let throttle { p.throttle = throttle }
        return p
    }
}
