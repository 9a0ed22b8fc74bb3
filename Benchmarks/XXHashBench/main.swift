import Foundation
import SpillwayTesting

// Keyed XXH3-128 of a 10 KB key vs `xxhsum -b` XXH128, same machine, same run, release build.
// Run: scripts/bench-xxhash.sh
let result = try XXH3Comparison.run(bytes: 10_240, seconds: 2)
let encoder = JSONEncoder()
encoder.outputFormatting = [.sortedKeys]
print(String(decoding: try encoder.encode(result), as: UTF8.self))
