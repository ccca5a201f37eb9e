#!/usr/bin/env bash
# Usage: ci/coverage.sh [TARGET...]        (default: differential)
#
# Which engine lines does the committed corpus reach? Converts the clean traces of corpus/
# (ci/seed-corpus.sh), replays them through each TARGET built with coverage instrumentation
# (`cargo fuzz coverage -s none`, stable), and prints llvm-cov's per-file summary of
# engine/src; an HTML report of the same lines goes to fuzz/coverage/<target>/html/.
# Needs Debian's llvm-$LLVM_MAJOR (its llvm-profdata and llvm-cov read what rustc writes):
# installed with apt-get if missing; LLVM_PATH=DIR uses other LLVM tools instead. Not run by
# .ci/run (docs/design.md §4.10).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    targets=(differential)
fi
llvm="${LLVM_PATH:-/usr/lib/llvm-$LLVM_MAJOR/bin}"
if [[ ! -x "$llvm/llvm-cov" ]]; then
    if [[ -n "${LLVM_PATH:-}" ]]; then
        echo "coverage.sh: no llvm-cov in LLVM_PATH=$LLVM_PATH" >&2
        exit 1
    fi
    echo "coverage.sh: installing llvm-$LLVM_MAJOR (Debian)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "llvm-$LLVM_MAJOR" >/dev/null
fi
ensure_cargo_fuzz

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
ci/seed-corpus.sh --dir "$work" "${targets[@]}"

triple="$(host_triple)"
# A target dir of its own, so coverage builds never replace the fuzzing builds.
cov_dir="$(target_dir)/coverage"
for target in "${targets[@]}"; do
    cargo fuzz coverage -s none --llvm-path "$llvm" --target-dir "$cov_dir" "$target" "$work/$target" >"$work/$target.log" 2>&1 || {
        tail -n 40 "$work/$target.log" >&2
        echo "coverage.sh: cargo fuzz coverage $target failed" >&2
        exit 1
    }
    bin="$cov_dir/$triple/release/$target"
    profdata="fuzz/coverage/$target/coverage.profdata"
    echo "=== $target: engine/src lines reached by $(find "$work/$target" -type f | wc -l) corpus inputs"
    "$llvm/llvm-cov" report "$bin" -instr-profile="$profdata" "$ROOT/engine/src" |
        sed "s|$ROOT/||"
    "$llvm/llvm-cov" show "$bin" -instr-profile="$profdata" -format=html \
        -output-dir="fuzz/coverage/$target/html" "$ROOT/engine/src"
    echo "(line by line: fuzz/coverage/$target/html/index.html)"
done
