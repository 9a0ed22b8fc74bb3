import SpillwayTesting
import Synchronization

/// Runs `body` while moving a manual clock forward by `step` whenever something sleeps on it,
/// so cells with injected delays finish without real sleeping.
func driving<T: Sendable>(_ clock: ManualClock, step: Duration, _ body: @escaping @Sendable () async -> T) async -> T {
    let finished = DriverFlag()
    return await withTaskGroup(of: T?.self) { group in
        group.addTask {
            let result = await body()
            finished.value.withLock { $0 = true }
            return result
        }
        group.addTask {
            while !finished.value.withLock({ $0 }) {
                if clock.sleeperCount > 0 {
                    clock.advance(by: step)
                } else {
                    await Task.yield()
                }
            }
            return nil
        }
        var result: T?
        for await value in group where value != nil { result = value }
        return result!
    }
}

/// A flag shared between the body and the clock driver.
final class DriverFlag: Sendable {
    let value = Mutex(false)
}
