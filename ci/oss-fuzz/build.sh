#!/bin/bash -eu
# Usage: $SRC/build.sh   (OSS-Fuzz's and ClusterFuzzLite's `compile` run it in
#                         base-builder-rust with $SRC, $OUT and $SANITIZER set)
#        ci/oss-fuzz-local.sh   (the same script on stable, without Docker, SANITIZER=none)
#
# Builds every cargo-fuzz target with `cargo fuzz build -O --debug-assertions` and the
# sanitizer OSS-Fuzz asks for (`-s none` when SANITIZER=none), and puts into $OUT: each
# target binary, its <target>.options, its <target>.dict and <target>_seed_corpus.zip (the
# committed clean traces of corpus/, converted by ci/seed-corpus.sh).
set -euo pipefail

# The checkout sits at $SRC/vmfuzz (the Dockerfiles' WORKDIR).
# shellcheck source=ci/lib.sh
source "$SRC/vmfuzz/ci/lib.sh"

case "${SANITIZER:-address}" in
    none) sanitizer=(-s none) ;;
    address | memory | thread | leak) sanitizer=(-s "$SANITIZER") ;;
    # coverage, introspector: OSS-Fuzz's cargo wrapper adds the instrumentation itself.
    *) sanitizer=() ;;
esac

cargo fuzz build "${CARGO_FUZZ_BUILD_FLAGS[@]}" "${sanitizer[@]}"

bin_dir="$(target_dir)/$(host_triple)/release"
mapfile -t targets < <(fuzz_targets)
for target in "${targets[@]}"; do
    cp "$bin_dir/$target" "$OUT/"
    cp "fuzz/fuzz_targets/$target.options" "$OUT/"
    cp "$(dict_of "$target")" "$OUT/$target.dict"
done
ci/seed-corpus.sh --zip "$OUT" "${targets[@]}"
