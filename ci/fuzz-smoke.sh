#!/usr/bin/env bash
# Usage: ci/fuzz-smoke.sh [SECONDS] [TARGET...]
#
# Builds every cargo-fuzz target on stable (`cargo fuzz build -O --debug-assertions -s none`,
# installing cargo-fuzz at the pinned version if it is missing), then runs each one for
# SECONDS (default 20) from the seed corpus (ci/seed-corpus.sh, into a temporary directory)
# with its fuzz_targets/<target>.options and dictionary. Exits non-zero if any target finds
# something (a panic, a timeout or an out-of-memory); the input is kept in
# fuzz/artifacts/<target>/ and the report names it. FUZZ_FEATURES=planted-bugs with
# VMFUZZ_PLANTED_BUG=NAME runs against a planted fault (a canary: it must fail).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

seconds="${1:-20}"
shift || true
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    mapfile -t targets < <(fuzz_targets)
fi

ensure_cargo_fuzz
cargo fuzz build "${CARGO_FUZZ_BUILD_FLAGS[@]}" "${FEATURE_ARGS[@]}" -s none

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
ci/seed-corpus.sh --dir "$work/corpus" "${targets[@]}"

failed=()
summary=()
for target in "${targets[@]}"; do
    mapfile -t args < <(libfuzzer_args "$target")
    log="$work/$target.log"
    echo "=== $target: ${seconds}s" >&2
    status=0
    cargo fuzz run "${CARGO_FUZZ_BUILD_FLAGS[@]}" "${FEATURE_ARGS[@]}" -s none "$target" "$work/corpus/$target" -- \
        "${args[@]}" -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1 || status=$?
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)"
    cov="$(grep -E '^#[0-9]+' "$log" | tail -n 1 | sed -n 's/.* cov: \([0-9]*\).* ft: \([0-9]*\).*/cov \1 ft \2/p')"
    if [[ $status -ne 0 ]]; then
        tail -n 80 "$log" >&2
        failed+=("$target")
        summary+=("$target: FAILED (exit $status), see fuzz/artifacts/$target/")
    else
        summary+=("$target: ok, ${runs:-?} runs, ${rate:-?} exec/s, ${cov:-no stats}")
    fi
done

printf '%s\n' "fuzz-smoke (${seconds}s per target):" "${summary[@]/#/  }"
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzz-smoke: finding in ${failed[*]}; replay the artifact with" \
        "\`cargo fuzz run -s none TARGET ARTIFACT\` or \`cargo vmfuzz replay ARTIFACT\`" >&2
    exit 1
fi
