#!/usr/bin/env bash
# Usage: ci/seed-corpus.sh [--from DIR] [--dir DIR | --zip DIR] [TARGET...]
#
# Turns the committed text traces (corpus/**/*.trace, or those under --from DIR or
# $VMFUZZ_CORPUS) whose
# `expect:` is `clean` (no `expect:` line means clean) into fuzzer seeds, one set per
# cargo-fuzz target (default: all of them):
#   (default)   fuzz/corpus/<target>/   the git-ignored working corpora of `cargo fuzz run`
#   --dir DIR   DIR/<target>/           (ci/afl-smoke.sh uses this for AFL++'s input dir)
#   --zip DIR   DIR/<target>_seed_corpus.zip   OSS-Fuzz's seed corpus convention
# Targets that read vmfuzz's byte format get `vmfuzz convert --to bytes` output; `raw_bytes`,
# which parses its input as a trace before making raw calls, gets the trace text itself.
# Traces expecting a finding, a BUG or a hang are left out. If no trace qualifies, a built-in
# one-op trace is used so that no target starts (or ships) an empty corpus.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

from="${VMFUZZ_CORPUS:-corpus}"
mode=dir
dest=fuzz/corpus
targets=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --from) from="$2"; shift 2 ;;
        --dir) mode=dir; dest="$(abspath "$2")"; shift 2 ;;
        --zip) mode=zip; dest="$(abspath "$2")"; shift 2 ;;
        -*) echo "seed-corpus.sh: unknown option $1" >&2; exit 2 ;;
        *) targets+=("$1"); shift ;;
    esac
done
if [[ ${#targets[@]} -eq 0 ]]; then
    mapfile -t targets < <(fuzz_targets)
fi
if [[ "$from" != corpus ]]; then
    from="$(abspath "${from%/}")"
fi
mkdir -p "$dest"
dest="$(cd "$dest" && pwd)"

# The `expect:` value of a trace (a `#` after whitespace starts a comment), default clean.
expect_of() {
    local e
    e="$(sed -n -E 's/^[[:space:]]*expect:[[:space:]]*//p' "$1" | head -n 1 |
        sed -E 's/(^|[[:space:]])#.*//; s/[[:space:]]+$//')"
    echo "${e:-clean}"
}

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/text" "$work/bytes"

traces=()
if [[ -d "$from" ]]; then
    mapfile -t traces < <(find "$from" -type f -name '*.trace' | LC_ALL=C sort)
fi
for t in "${traces[@]}"; do
    if [[ "$(expect_of "$t")" == clean ]]; then
        # seeds/fix_size_alloc.trace -> seeds-fix_size_alloc
        name="${t#"$from"/}"
        name="${name%.trace}"
        cp "$t" "$work/text/${name//\//-}"
    fi
done
if [[ -z "$(ls -A "$work/text")" ]]; then
    echo "seed-corpus.sh: no clean trace under $from; using a built-in one-op seed" >&2
    printf '%s\n' 'vmfuzz-trace v1' '# built-in seed: corpus/ had no clean trace' \
        'expect: clean' 'vmalloc 0x1000' 'vfree area#0' >"$work/text/builtin-vmalloc-vfree"
fi

# Build the converter once (release, as `cargo vmfuzz` does), then call it per trace. Without
# the caller's RUSTFLAGS: inside OSS-Fuzz's build they carry sanitizer-coverage flags meant
# for the fuzz targets, which a plain binary cannot link.
vmfuzz="$(env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS \
    cargo build --release -q -p vmfuzz-cli --bin vmfuzz --message-format=json |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)"
count=0
for f in "$work/text"/*; do
    if ! out="$("$vmfuzz" convert "$f" --to bytes -o "$work/bytes/$(basename "$f")" 2>&1)"; then
        echo "seed-corpus.sh: cannot convert $(basename "$f"): $out" >&2
        exit 1
    fi
    count=$((count + 1))
done

for target in "${targets[@]}"; do
    src="$work/bytes"
    if [[ "$target" == raw_bytes ]]; then
        src="$work/text"
    fi
    case "$mode" in
        dir)
            mkdir -p "$dest/$target"
            cp "$src"/* "$dest/$target/"
            echo "seed-corpus.sh: $count seeds -> $dest/$target/" >&2
            ;;
        zip)
            rm -f "$dest/${target}_seed_corpus.zip"
            (cd "$src" && zip -q -X "$dest/${target}_seed_corpus.zip" ./*)
            echo "seed-corpus.sh: $count seeds -> $dest/${target}_seed_corpus.zip" >&2
            ;;
    esac
done
