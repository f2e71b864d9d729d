#!/usr/bin/env bash
# Runs the whole test suite; exits non-zero on the first failure.
#
# 1. installs oneDNN when missing (so its backend is tested too; see scripts/setup-onednn.sh);
# 2. `swift test` (debug build): every test, including the reliability, fuzz and regression suites;
# 3. the leak tests again, alone, asserting that resident memory stays flat (CONVKIT_LEAK_CHECK=1);
#    the oneDNN tests again with CONVKIT_DISABLE_ONEDNN=1, to check the "unavailable" path;
# 4. when CONVKIT_SANITIZERS is set (CI sets "thread,address"): the concurrency, fuzz,
#    regression, backend and file-format suites under the thread and/or address sanitizer,
#    each in its own scratch directory (.build-tsan, .build-asan) so the main build is kept.
#
# Environment:
#   CONVKIT_SANITIZERS   comma-separated list of "thread", "address" (default: none locally)
#   CONVKIT_FUZZ_SEED    seed of the fuzz tests (default: fixed); CONVKIT_FUZZ_COUNT: cases per fuzz test
#
# Time on the 2-core development VM: about 6.5 minutes without sanitizers from a clean checkout
# (3 min build, 3 min tests), plus about 4.5-7 minutes per sanitizer (3 min build each; the
# thread sanitizer's run is the longer); 1055 s in all with both (2026-12-02).
set -euo pipefail
cd "$(dirname "$0")/.."

started=$SECONDS
section() { printf '\n==== %s [%d s] ====\n' "$*" "$((SECONDS - started))"; }

section "oneDNN (libdnnl-dev)"
scripts/setup-onednn.sh

section "build (debug, with tests)"
swift build --build-tests

section "swift test (all suites)"
swift test --skip-build

section "leak tests, alone (resident memory is process-wide)"
CONVKIT_LEAK_CHECK=1 swift test --skip-build --filter 'ReliabilityConcurrencyTests/noLeaks'
CONVKIT_LEAK_CHECK=1 swift test --skip-build --filter 'ReliabilityModelTests/noLeaks' 

section "oneDNN-unavailable path (CONVKIT_DISABLE_ONEDNN=1)"
CONVKIT_DISABLE_ONEDNN=1 swift test --skip-build --filter OneDNN

# The sanitizer subset: the concurrency and leak tests (single convolutions and graph models),
# the fuzzers (fewer cases: sanitized code runs 3-15 times slower), the regressions, every
# backend's own suite, the kernel edge cases (small depthwise planes, partial tiles), the
# file formats and the ONNX importer's error and fuzz suites.
sanitizer_filter='^(ConvKitTests\.(Reliability|WorkerTeam|Fuzz|Regression|DirectBackend|WinogradBackend|OneDNNBackend|ReferenceBackend|CrossBackendAgreement|NumPyFile|Tensor|KernelEdge|MicroKernel)|ConvKitONNXTests\.ONNX(Fuzz|Error))'
sanitizer_fuzz_count=300

IFS=',' read -r -a sanitizers <<< "${CONVKIT_SANITIZERS:-}"
for sanitizer in "${sanitizers[@]}"; do
    case "$sanitizer" in
    thread)
        section "thread sanitizer (.build-tsan): build"
        swift build --build-tests --sanitize=thread --scratch-path .build-tsan
        section "thread sanitizer: run"
        # halt_on_error: the first data race fails the run. No suppressions are needed: oneDNN's
        # OpenMP threads and JIT code are not instrumented and produced no reports.
        # allocator_may_return_null: as for ASan below (the 64 TB oneDNN request must fail softly).
        CONVKIT_SANITIZER=thread CONVKIT_FUZZ_COUNT=$sanitizer_fuzz_count \
        TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 allocator_may_return_null=1" \
            swift test --skip-build --sanitize=thread --scratch-path .build-tsan --filter "$sanitizer_filter"
        ;;
    address)
        section "address sanitizer (.build-asan): build"
        swift build --build-tests --sanitize=address --scratch-path .build-asan
        section "address sanitizer (with LeakSanitizer): run"
        # allocator_may_return_null: a resource-limit test makes oneDNN request 64 TB; glibc
        # returns NULL (oneDNN reports dnnl_out_of_memory, which the test expects) but ASan
        # aborts unless told to return NULL too. lsan.supp: XCTest harness leaks only.
        CONVKIT_SANITIZER=address CONVKIT_FUZZ_COUNT=$sanitizer_fuzz_count \
        ASAN_OPTIONS="allocator_may_return_null=1 detect_leaks=1" \
        LSAN_OPTIONS="suppressions=$PWD/scripts/lsan.supp" \
            swift test --skip-build --sanitize=address --scratch-path .build-asan --filter "$sanitizer_filter"
        ;;
    none | "") ;;
    *)
        echo "scripts/test.sh: unknown sanitizer '$sanitizer' in CONVKIT_SANITIZERS (use thread, address)" >&2
        exit 2
        ;;
    esac
done
if [ ${#sanitizers[@]} -eq 0 ]; then
    section "sanitizers skipped (set CONVKIT_SANITIZERS=thread,address to run them, as CI does)"
fi

section "all tests passed in $((SECONDS - started)) s"
