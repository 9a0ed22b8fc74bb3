/// The local limiter's bookkeeping: each tracked key's theoretical arrival time (TAT), and a
/// min-heap over those times so that the key closest to rest is found in O(log n).
///
/// The heap is lazy: an update pushes a new `(tat, key)` entry and leaves the old one in place;
/// an entry whose TAT no longer matches the dictionary is stale and skipped when it surfaces.
/// When stale entries outnumber live ones the heap is rebuilt from the dictionary, which costs
/// O(n) once every n updates, so every operation is O(log n) amortized and memory stays at most
/// about twice the number of keys.
struct TATHeap {
    private struct Entry {
        var tat: Int64
        var key: String
    }

    private(set) var tats: [String: Int64] = [:]
    private var heap: [Entry] = []

    /// The number of keys tracked.
    var count: Int { tats.count }

    /// The number of heap entries, live and stale (for tests of the memory bound).
    var heapCount: Int { heap.count }

    subscript(key: String) -> Int64? { tats[key] }

    /// Stores `tat` for `key`.
    mutating func set(_ key: String, tat: Int64) {
        tats[key] = tat
        push(Entry(tat: tat, key: key))
        if heap.count > 2 * tats.count + 16 { rebuild() }
    }

    /// Removes the key with the smallest TAT (the one closest to rest) and returns it.
    @discardableResult
    mutating func removeEarliest() -> String? {
        while let top = heap.first {
            popTop()
            if tats[top.key] == top.tat {
                tats[top.key] = nil
                return top.key
            }
        }
        return nil
    }

    private mutating func rebuild() {
        heap = tats.map { Entry(tat: $0.value, key: $0.key) }
        var index = heap.count / 2
        while index > 0 {
            index -= 1
            siftDown(index)
        }
    }

    private mutating func push(_ entry: Entry) {
        heap.append(entry)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].tat < heap[parent].tat else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func popTop() {
        let last = heap.removeLast()
        guard !heap.isEmpty else { return }
        heap[0] = last
        siftDown(0)
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            guard left < heap.count else { return }
            let right = left + 1
            let smaller = right < heap.count && heap[right].tat < heap[left].tat ? right : left
            guard heap[smaller].tat < heap[parent].tat else { return }
            heap.swapAt(parent, smaller)
            parent = smaller
        }
    }
}
