import Foundation

#if PRISMQ_LIBFUZZER
    import CLibFuzzer

    // Built by ./scripts/fuzz-requests with -sanitize=fuzzer,address: libFuzzer makes the
    // inputs (its options on the command line), and a broken invariant or a memory error
    // stops it with the input saved.
    /// The fuzzer's entry for one input (libFuzzer's runtime also names it).
    @_cdecl("LLVMFuzzerTestOneInput")
    func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
        RequestFuzzing.run(Array(UnsafeBufferPointer(start: data, count: size)))
        return 0
    }

    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzOneInput(data, size) })
#else
    // A plain build replays inputs: `prismq-fuzz FILE…` (a corpus, or a crash libFuzzer saved).
    let paths = CommandLine.arguments.dropFirst()
    guard !paths.isEmpty else {
        FileHandle.standardError.write(Data("usage: prismq-fuzz FILE…  (./scripts/fuzz-requests fuzzes)\n".utf8))
        exit(64)
    }
    for path in paths {
        guard let data = FileManager.default.contents(atPath: path) else {
            FileHandle.standardError.write(Data("prismq-fuzz: cannot read \(path)\n".utf8))
            exit(1)
        }
        RequestFuzzing.run(Array(data))
    }
    print("\(paths.count) inputs replayed: every invariant held")
#endif
