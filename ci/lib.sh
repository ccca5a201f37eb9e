# shellcheck shell=bash
# Helpers shared by the ci/*.sh scripts (sourced, not run). Pinned tool versions live here.
#
# Sourcing it moves to the repository root, so the scripts run from any directory.

# Pinned versions (bump here and nowhere else).
# shellcheck disable=SC2034 # used by the scripts that source this file
CARGO_FUZZ_VERSION=0.13.2
CARGO_AFL_VERSION=0.18.2
LLVM_MAJOR=19

# How every script builds the cargo-fuzz targets (OSS-Fuzz's `-O`, plus debug assertions and
# overflow checks as `cargo test` has them); the sanitizer is added per caller.
# shellcheck disable=SC2034 # used by the scripts that source this file
CARGO_FUZZ_BUILD_FLAGS=(-O --debug-assertions)

# `--help` or `-h` as a script's first argument prints the script's header comment.
case "${1:-}" in
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
esac

# FUZZ_FEATURES=planted-bugs builds the fuzz targets with that cargo feature (then pick a
# fault at run time with VMFUZZ_PLANTED_BUG=NAME).
FEATURE_ARGS=()
if [[ -n "${FUZZ_FEATURES:-}" ]]; then
    FEATURE_ARGS=(--features "$FUZZ_FEATURES")
fi

CALLER_PWD="$PWD"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1

# A path given on the command line, made absolute against the caller's directory.
abspath() {
    case "$1" in
        /*) echo "$1" ;;
        *) echo "$CALLER_PWD/$1" ;;
    esac
}

# The cargo-fuzz targets, from the [[bin]] tables of fuzz/Cargo.toml.
fuzz_targets() {
    awk '/^\[\[bin\]\]/ { bin = 1; next }
         bin && /^name *=/ { gsub(/[" ]/, "", $0); sub(/^name=/, "", $0); print; bin = 0 }' \
        fuzz/Cargo.toml
}

# The libFuzzer dictionary of a target: fuzz/fuzz_targets/<target>.dict if there is one,
# else ops.dict (the targets that read vmfuzz's structured byte format).
dict_of() {
    if [[ -f "fuzz/fuzz_targets/$1.dict" ]]; then
        echo "fuzz/fuzz_targets/$1.dict"
    else
        echo "fuzz/fuzz_targets/ops.dict"
    fi
}

# The [libfuzzer] section of fuzz/fuzz_targets/<target>.options as `-key=value` arguments,
# then `-dict=...`: the same settings OSS-Fuzz reads from $OUT/<target>.options.
libfuzzer_args() {
    awk '/^\[/ { sec = $0; next }
         sec == "[libfuzzer]" && /=/ && !/^[ \t]*#/ {
             k = $0; sub(/[ \t]*=.*/, "", k); sub(/^[ \t]*/, "", k)
             v = $0; sub(/^[^=]*=[ \t]*/, "", v); sub(/[ \t]*$/, "", v)
             print "-" k "=" v
         }' "fuzz/fuzz_targets/$1.options"
    echo "-dict=$ROOT/$(dict_of "$1")"
}

# Install cargo-fuzz at the pinned version unless that version is already there.
ensure_cargo_fuzz() {
    if [[ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]]; then
        echo "installing cargo-fuzz $CARGO_FUZZ_VERSION" >&2
        cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
    fi
}

# Install cargo-afl at the pinned version unless that version is already there.
ensure_cargo_afl() {
    if [[ "$(cargo afl --version 2>/dev/null)" != *"$CARGO_AFL_VERSION"* ]]; then
        echo "installing cargo-afl $CARGO_AFL_VERSION" >&2
        cargo install cargo-afl --locked --version "$CARGO_AFL_VERSION"
    fi
}

# The host triple, which cargo-fuzz builds for.
host_triple() {
    rustc -vV | sed -n 's/^host: //p'
}

# The workspace's target directory (honours CARGO_TARGET_DIR and .cargo/config.toml).
target_dir() {
    cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p'
}
