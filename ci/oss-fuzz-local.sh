#!/usr/bin/env bash
# Usage: ci/oss-fuzz-local.sh [--keep]
#
# Runs ci/oss-fuzz/build.sh as OSS-Fuzz would, but on this machine's stable toolchain and
# without Docker: $SRC, $OUT and $WORK are temporary directories (this checkout is linked
# in as $SRC/vmfuzz) and SANITIZER=none. Installs cargo-fuzz at the pinned version if it is
# missing. Then checks that every target landed in $OUT with its .options, .dict and
# <target>_seed_corpus.zip, and that each binary replays its seed corpus cleanly.
# --keep leaves the directories in place and prints where they are.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

keep=false
[[ "${1:-}" == --keep ]] && keep=true

ensure_cargo_fuzz
base="$(mktemp -d)"
if ! $keep; then
    trap 'rm -rf "$base"' EXIT
fi
mkdir -p "$base/src" "$base/out" "$base/work"
ln -s "$ROOT" "$base/src/vmfuzz"

(
    cd "$base/src/vmfuzz"
    SRC="$base/src" OUT="$base/out" WORK="$base/work" SANITIZER=none \
        FUZZING_ENGINE=libfuzzer FUZZING_LANGUAGE=rust ARCHITECTURE=x86_64 \
        bash -eu "$base/src/vmfuzz/ci/oss-fuzz/build.sh"
)

out="$base/out"
missing=0
mapfile -t targets < <(fuzz_targets)
for target in "${targets[@]}"; do
    for f in "$target" "$target.options" "$target.dict" "${target}_seed_corpus.zip"; do
        if [[ ! -s "$out/$f" ]]; then
            echo "oss-fuzz-local.sh: missing \$OUT/$f" >&2
            missing=1
        fi
    done
    if [[ -x "$out/$target" && -s "$out/${target}_seed_corpus.zip" ]]; then
        seeds="$base/work/seeds-$target"
        mkdir -p "$seeds"
        unzip -q -o "$out/${target}_seed_corpus.zip" -d "$seeds"
        if ! (cd "$base/work" && "$out/$target" -runs=0 "$seeds" >"$base/work/$target.log" 2>&1); then
            tail -n 40 "$base/work/$target.log" >&2
            echo "oss-fuzz-local.sh: $target fails on its seed corpus" >&2
            missing=1
        fi
    fi
done
ls -l "$out" >&2
if $keep; then
    echo "oss-fuzz-local.sh: kept SRC=$base/src OUT=$out WORK=$base/work" >&2
fi
if [[ $missing -ne 0 ]]; then
    exit 1
fi
echo "oss-fuzz-local: ${#targets[@]} targets, each with .options, .dict and a seed zip, replay their seeds cleanly"
