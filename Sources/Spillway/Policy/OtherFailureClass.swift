/// The backend failure classes other than out-of-memory: the keys of ``CachePolicy/onFailure``.
///
/// Out-of-memory has its own field, ``CachePolicy/onOOM``, with a default (`shed`); leaving it out
/// of this type means a policy has exactly one place that says what an OOM does.
public enum OtherFailureClass: String, Sendable, Hashable, CaseIterable, Codable {
    /// The backend did not answer in time.
    case timeout
    /// The connection failed or broke.
    case connection
    /// The backend is busy or loading.
    case busy
    /// The backend refused the size of a value.
    case tooLarge
    /// Any other backend error.
    case other
    /// The blob store cannot take a value (full, over quota, read-only, unreachable). Unlisted,
    /// it follows ``CachePolicy/onOOM``.
    case storage

    /// The class of `failure`, or `nil` for ``FailureClass/outOfMemory``.
    @inlinable
    public init?(_ failure: FailureClass) {
        switch failure {
        case .outOfMemory: return nil
        case .timeout: self = .timeout
        case .connection: self = .connection
        case .busy: self = .busy
        case .tooLarge: self = .tooLarge
        case .other: self = .other
        case .storage: self = .storage
        }
    }
}
