#!/usr/bin/env bash
# Usage: ci/afl-smoke.sh [SECONDS]
#
# Builds the AFL++ target (fuzz/afl, its own workspace) with `cargo afl build --release`,
# installing cargo-afl at the pinned version if it is missing (cargo install builds the AFL++
# runtime itself: no Debian package is needed), seeds AFL++'s input directory from corpus/
# through ci/seed-corpus.sh, and runs `cargo afl fuzz` headless for SECONDS (default 20).
# Exits non-zero if AFL++ saved a crash or a hang (an input over 60 s); the inputs stay in
# fuzz/afl/out/smoke/default/{crashes,hangs}/ and the first crash's report is printed.
# Extra environment for afl-fuzz (e.g. AFL_NO_AFFINITY=1) is passed through;
# FUZZ_FEATURES=planted-bugs with VMFUZZ_PLANTED_BUG=NAME runs against a planted fault.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

seconds="${1:-20}"
out=fuzz/afl/out/smoke

ensure_cargo_afl
bin="$(cargo afl build --release --manifest-path fuzz/afl/Cargo.toml "${FEATURE_ARGS[@]}" \
    --message-format=json |
    sed -n 's/.*"executable":"\([^"]*differential\)".*/\1/p' | tail -n 1)"
if [[ ! -x "$bin" ]]; then
    echo "afl-smoke.sh: the build produced no differential binary" >&2
    exit 1
fi
if ! git diff --quiet -- fuzz/afl/Cargo.lock 2>/dev/null; then
    echo "afl-smoke.sh: note: fuzz/afl/Cargo.lock changed (a harness dependency moved); commit it" >&2
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
ci/seed-corpus.sh --dir "$work" differential
rm -rf "$out"
mkdir -p "$(dirname "$out")"

echo "=== afl differential: ${seconds}s" >&2
AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_FAST_CAL=1 \
    cargo afl fuzz -i "$work/differential" -o "$out" -V "$seconds" -t 60000 \
    -x "$(dict_of differential)" "$bin" >"$work/afl.log" 2>&1 || {
    sed 's/\x1b\[[0-9;]*m//g' "$work/afl.log" | grep -v '^$' | tail -n 30 >&2
    echo "afl-smoke.sh: afl-fuzz failed (a crashing seed stops it too)" >&2
    exit 1
}

# A seed that crashes is skipped by AFL++ with a warning (or, if every seed does, afl-fuzz
# stops above): that is a finding too.
if grep -q "results in a crash" "$work/afl.log"; then
    grep "results in a crash" "$work/afl.log" | sed 's/\x1b\[[0-9;]*m//g' >&2
    echo "afl-smoke.sh: a seed from corpus/ crashes the target" >&2
    exit 1
fi

stats="$out/default/fuzzer_stats"
stat() { sed -n "s/^$1 *: *//p" "$stats"; }
crashes="$(stat saved_crashes)"
hangs="$(stat saved_hangs)"
echo "afl-smoke: $(stat execs_done) execs, $(stat execs_per_sec) exec/s," \
    "corpus $(stat corpus_count), crashes ${crashes}, hangs ${hangs}"
if [[ "$crashes" != 0 || "$hangs" != 0 ]]; then
    first="$(find "$out/default/crashes" "$out/default/hangs" -type f -name 'id:*' | sort | head -n 1)"
    echo "afl-smoke.sh: AFL++ saved ${crashes} crash(es) and ${hangs} hang(s) in $out/default/" >&2
    if [[ -n "$first" ]]; then
        echo "--- report of $first (replay: $bin < FILE, or cargo vmfuzz replay FILE):" >&2
        timeout 60 "$bin" <"$first" >&2 || true
    fi
    exit 1
fi
