import Synchronization

/// A value shared by the soak's tasks.
final class SoakBox<Value: Sendable>: Sendable {
    let value: Mutex<Value>

    init(_ value: Value) { self.value = Mutex(value) }
}
