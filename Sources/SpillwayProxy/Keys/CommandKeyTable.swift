public import SpillwayRedis
import NIOCore
import Spillway

/// The key specifications of every command the upstream knows, read once from its `COMMAND`
/// reply (at start, and again after the proxy reconnects), and looked up per request.
///
/// Subcommands (`OBJECT ENCODING`, `XINFO STREAM`) have their own entries, named
/// `OBJECT|ENCODING`. A command whose specs are not all complete (an `unknown` part or the
/// `incomplete` flag, e.g. `SORT … STORE`, `MIGRATE … KEYS`) is marked ``Entry/needsGetKeys``:
/// the proxy asks the upstream's `COMMAND GETKEYS` for it, or passes it unchanged, as configured.
public struct CommandKeyTable: Sendable {
    /// What the table knows of one command.
    public struct Entry: Sendable, Hashable {
        /// The command's key specifications.
        public var specs: [KeySpec]
        /// Whether the specs may miss keys.
        public var needsGetKeys: Bool
        /// Whether the command has subcommands (its keys are in the subcommand's entry).
        public var hasSubcommands: Bool
        /// Whether Redis flags the command `blocking` (its reply may name the key it served).
        public var blocking: Bool
        /// Whether Redis flags the command `write` (an `-OOM` reply is a refused write).
        public var write: Bool

        /// Whether the command's only key is its first argument (`GET`, `SET`, `INCR`,
        /// `EXPIRE`, …: one spec, `index 1`, `range 0`), so the guard looks at that argument
        /// alone.
        public var onlyFirstArgument: Bool {
            guard specs.count == 1, case .index(1) = specs[0].beginSearch, case .range(0, _, _) = specs[0].findKeys else { return false }
            return !specs[0].incomplete
        }
    }

    /// Entries by upper-case name (`GET`, `OBJECT|ENCODING`).
    public private(set) var entries: [String: Entry]

    /// An empty table: no command has keys.
    public init() { entries = [:] }

    /// Creates a table from entries (tests).
    public init(entries: [String: Entry]) { self.entries = entries }

    /// Builds the table from the reply to `COMMAND` (RESP2 or RESP3).
    public init(commandReply: RESPValue) {
        entries = [:]
        for command in commandReply.elements ?? [] { add(command) }
    }

    /// The number of commands and subcommands known.
    public var count: Int { entries.count }

    /// The entry for a request: its subcommand's when it has one.
    public func entry(for request: ProxyRequest) -> Entry? {
        let name = request.name
        guard let entry = entries[name] else { return nil }
        if entry.hasSubcommands, let sub = request.upperArgument(1), let subEntry = entries[name + "|" + sub] {
            return subEntry
        }
        return entry
    }

    /// The indices of the request's key arguments, per the specs (ascending, no repeats).
    public func keyIndices(of request: ProxyRequest, entry: Entry) -> [Int] {
        guard entry.specs.count > 1 else {
            // One spec (GET, SET, most commands): its indices as they are, no merge.
            return entry.specs.first.map { Self.keyIndices(of: request, spec: $0) } ?? []
        }
        var indices: [Int] = []
        for spec in entry.specs { indices += Self.keyIndices(of: request, spec: spec) }
        return Array(Set(indices)).sorted()
    }

    private static func keyIndices(of request: ProxyRequest, spec: KeySpec) -> [Int] {
        spec.keyIndices(
            count: request.count,
            upper: { request.upperArgument($0) },
            integer: { i in request.arguments[i].withUnsafeReadableBytes { DecimalInteger.parseOrNil($0) }.map { Int($0) } }
        )
    }

    private mutating func add(_ command: RESPValue) {
        guard let fields = command.elements, fields.count >= 3, let name = fields[0].string?.uppercased() else { return }
        let flags = Set((fields[2].elements ?? []).compactMap { $0.string?.lowercased() })
        var specs: [KeySpec] = []
        if fields.count > 8 {
            for spec in fields[8].elements ?? Self.mapValues(fields[8]) {
                specs.append(Self.keySpec(spec))
            }
        }
        let subcommands = fields.count > 9 ? (fields[9].elements ?? []) : []
        for sub in subcommands { add(sub) }
        let incomplete = specs.contains { !$0.isComplete } || (flags.contains("movablekeys") && specs.isEmpty)
        entries[name] = Entry(
            specs: specs, needsGetKeys: incomplete, hasSubcommands: !subcommands.isEmpty,
            blocking: flags.contains("blocking"), write: flags.contains("write")
        )
    }

    private static func mapValues(_ value: RESPValue) -> [RESPValue] {
        if case .map(let entries) = value { return entries.map(\.value) }
        return []
    }

    /// The fields of a RESP3 map or of a RESP2 flat key/value array.
    static func fields(_ value: RESPValue) -> [String: RESPValue] {
        var out: [String: RESPValue] = [:]
        switch value {
        case .map(let entries):
            for entry in entries { if let key = entry.key.string { out[key.lowercased()] = entry.value } }
        case .array(let elements):
            var i = 0
            while i + 1 < elements.count {
                if let key = elements[i].string { out[key.lowercased()] = elements[i + 1] }
                i += 2
            }
        default:
            break
        }
        return out
    }

    static func keySpec(_ value: RESPValue) -> KeySpec {
        let spec = fields(value)
        let flags = Set((spec["flags"]?.elements ?? []).compactMap { $0.string?.lowercased() })
        var begin = KeySpec.BeginSearch.unknown
        if let search = spec["begin_search"].map(fields) {
            let details = search["spec"].map(fields) ?? [:]
            switch search["type"]?.string {
            case "index":
                if let index = details["index"]?.int64 { begin = .index(Int(index)) }
            case "keyword":
                if let keyword = details["keyword"]?.string, let from = details["startfrom"]?.int64 {
                    begin = .keyword(keyword, startFrom: Int(from))
                }
            default:
                break
            }
        }
        var find = KeySpec.FindKeys.unknown
        if let keys = spec["find_keys"].map(fields) {
            let details = keys["spec"].map(fields) ?? [:]
            switch keys["type"]?.string {
            case "range":
                if let last = details["lastkey"]?.int64, let step = details["keystep"]?.int64, let limit = details["limit"]?.int64 {
                    find = .range(lastKey: Int(last), keyStep: Int(step), limit: Int(limit))
                }
            case "keynum":
                if let index = details["keynumidx"]?.int64, let first = details["firstkey"]?.int64, let step = details["keystep"]?.int64 {
                    find = .keynum(keyNumIndex: Int(index), firstKey: Int(first), keyStep: Int(step))
                }
            default:
                break
            }
        }
        return KeySpec(beginSearch: begin, findKeys: find, incomplete: flags.contains("incomplete"))
    }
}
