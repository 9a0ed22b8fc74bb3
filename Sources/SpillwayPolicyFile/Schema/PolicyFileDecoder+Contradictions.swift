import Spillway

/// Contradictions between fields, including those that appear only when a route and a prefix combine.
extension PolicyFileDecoder {
    /// Checks `spillAbove < maxValueBytes` for the defaults, every route, every prefix (with the
    /// shorter prefixes it extends), and every route combined with every prefix (the policy an
    /// operation really gets). Each contradiction
    /// is reported once, at the line of the more specific of the two fields.
    mutating func checkContradictions() {
        var reported = Set<[Int]>()
        func check(_ layers: [Layer], context: String) {
            var spill: (value: Int?, line: Int?, from: String) = (CachePolicy().spillAbove, nil, "built-in default")
            var limit: (value: Int, line: Int?, from: String) = (CachePolicy().maxValueBytes, nil, "built-in default")
            var spillSet = false
            var limitSet = false
            for layer in layers.reversed() {
                if !spillSet, let s = layer.overrides.spillAbove {
                    spill = (s, layer.lines[.spillAbove], layer.name)
                    spillSet = true
                }
                if !limitSet, let m = layer.overrides.maxValueBytes {
                    limit = (m, layer.lines[.maxValueBytes], layer.name)
                    limitSet = true
                }
            }
            guard let spillValue = spill.value, spillValue >= limit.value else { return }
            let key = [spill.line ?? 0, limit.line ?? 0]
            guard reported.insert(key).inserted else { return }
            let line = max(spill.line ?? 0, limit.line ?? 0)
            func origin(_ line: Int?, _ from: String) -> String {
                line.map { "\(from), line \($0)" } ?? from
            }
            error(
                SourceLocation(line: max(line, 1), column: 1),
                "spillAbove \(ByteSize.format(spillValue)) (\(origin(spill.line, spill.from))) is not below maxValueBytes \(ByteSize.format(limit.value)) (\(origin(limit.line, limit.from)))\(context): values above maxValueBytes are refused, so nothing would ever be spilled"
            )
        }
        // A longer prefix inherits from the shorter prefixes it extends, as in `PolicyTable`.
        let chains: [(name: String, layers: [Layer])] = prefixes.map { entry in
            let chain = prefixes.filter { entry.name.hasPrefix($0.name) }
                .sorted { $0.name.utf8.count < $1.name.utf8.count }
                .map(\.layer)
            return (entry.layer.name, chain)
        }
        check([defaults], context: "")
        for route in routes { check([defaults, route.layer], context: "") }
        for chain in chains { check([defaults] + chain.layers, context: "") }
        for route in routes {
            for chain in chains {
                check([defaults, route.layer] + chain.layers, context: " when \(route.layer.name) writes a key under \(chain.name)")
            }
        }
    }
}
