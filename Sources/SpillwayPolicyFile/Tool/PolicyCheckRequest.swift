/// One run of the policy checker: what `spillway check-policies` and the build plugin's
/// `spillway-policy` tool are asked to do.
///
/// `spillway-policy` reads it from its arguments with ``parse(arguments:)`` (by hand, so the tool
/// needs no argument-parsing library); `spillway check-policies` fills it from ArgumentParser.
/// Both then call ``run(standardOutput:standardError:)``, so they behave the same.
package struct PolicyCheckRequest: Sendable, Hashable {
    /// The policy file to check.
    package var file: String
    /// Also write the policies as Swift source to this path (only when the file is valid).
    package var emitSwift: String?
    /// The enum the generated Swift declares.
    package var typeName: String
    /// Fail on warnings too.
    package var warningsAsErrors: Bool
    /// Print nothing when the file is valid.
    package var quiet: Bool

    /// Creates a request.
    package init(file: String, emitSwift: String? = nil, typeName: String = "SpillwayPolicies", warningsAsErrors: Bool = false, quiet: Bool = false) {
        self.file = file
        self.emitSwift = emitSwift
        self.typeName = typeName
        self.warningsAsErrors = warningsAsErrors
        self.quiet = quiet
    }

    /// The usage text of `spillway-policy`.
    package static let usage = """
        USAGE: spillway-policy [--emit-swift OUT] [--type-name NAME] [--warnings-as-errors] [--quiet] FILE

        Validates a policy file (spillway.yml or spillway.json) and exits 1 with every error, each
        as 'file:line: error: message'. With --emit-swift, a valid file is also compiled into a
        Swift source file declaring a PolicyTable (what SpillwayPolicyPlugin does).
        """

    /// Reads `spillway-policy`'s arguments (without the program name). Options may come before or
    /// after the file; `--name=value` is accepted too.
    /// - Returns: the request, or `nil` when `--help` (or `-h`) was asked for.
    /// - Throws: ``PolicyToolUsageError`` for an unknown option, a missing value or file, a second
    ///   file, or a `--type-name` that is not a Swift identifier.
    package static func parse(arguments: [String]) throws(PolicyToolUsageError) -> PolicyCheckRequest? {
        var file: String?
        var request = PolicyCheckRequest(file: "")
        var rest = arguments[...]
        var onlyFiles = false
        while let argument = rest.popFirst() {
            if onlyFiles || !argument.hasPrefix("-") || argument == "-" {
                guard file == nil else { throw PolicyToolUsageError("one policy file only; got '\(file!)' and '\(argument)'") }
                file = argument
                continue
            }
            var name = argument
            var inlineValue: String?
            if argument.hasPrefix("--"), let equals = argument.firstIndex(of: "=") {
                name = String(argument[..<equals])
                inlineValue = String(argument[argument.index(after: equals)...])
            }
            func value() throws(PolicyToolUsageError) -> String {
                if let inlineValue { return inlineValue }
                guard let next = rest.popFirst() else { throw PolicyToolUsageError("\(name) needs a value") }
                return next
            }
            func noValue() throws(PolicyToolUsageError) {
                if inlineValue != nil { throw PolicyToolUsageError("\(name) takes no value") }
            }
            switch name {
            case "--":
                onlyFiles = true
            case "--emit-swift":
                request.emitSwift = try value()
            case "--type-name":
                request.typeName = try value()
            case "--warnings-as-errors":
                try noValue()
                request.warningsAsErrors = true
            case "--quiet", "-q":
                try noValue()
                request.quiet = true
            case "--help", "-h":
                return nil
            default:
                throw PolicyToolUsageError("unknown option '\(name)'")
            }
        }
        guard let file else { throw PolicyToolUsageError("missing the policy file") }
        request.file = file
        try request.validate()
        return request
    }

    /// Checks the options that do not depend on the file.
    /// - Throws: ``PolicyToolUsageError`` when `typeName` is not a Swift identifier.
    package func validate() throws(PolicyToolUsageError) {
        guard typeName.first.map({ $0.isLetter || $0 == "_" }) == true,
            typeName.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" })
        else {
            throw PolicyToolUsageError("--type-name must be a Swift identifier")
        }
    }
}

/// Wrong arguments to `spillway-policy`: the message says which.
package struct PolicyToolUsageError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong with the arguments.
    package var message: String

    /// Creates an error with its message.
    package init(_ message: String) { self.message = message }

    package var description: String { message }
}
