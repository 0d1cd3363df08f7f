// Only the header matters: LLVMFuzzerRunDriver comes from libFuzzer's runtime, linked when
// prismq-fuzz is built with -sanitize=fuzzer (./scripts/fuzz-requests).
#include "CLibFuzzer.h"
