import CFuzzerDriver

#if canImport(Glibc)
import Glibc
#endif

// SwiftPM links executables with a renamed entry point, so instead of libFuzzer's own `main`,
// this one runs libFuzzer's driver with the policy-file callback.
var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(
    LLVMFuzzerRunDriver(&argc, &argv) { data, size in
        policyFuzzerTestOneInput(data, size)
    })
