#!/usr/bin/env bash
# Mutation testing of the engine, sharded (docs/mutants/README.md). Outside .ci/run: a full
# run takes hours.
#
#   bash ci/mutants.sh run K N [BUDGET_SECONDS]   # test shard K of N (round-robin: mutant i
#                                                 # is in shard i mod N), then record it
#   bash ci/mutants.sh merge                      # merge every recorded shard, print the score
#   bash ci/mutants.sh list                       # how many mutants there are
#
# `run` installs the pinned cargo-mutants if it is missing, tests the shard within the time
# budget (default 6 hours; a shard cut short keeps what it finished), and copies its outcome
# lists (caught, missed, timeout, unviable) to docs/mutants/shard-K-of-N/, ready to commit as
# each shard finishes. The mutated files, the tests a mutant must fail and the timeout are in
# .cargo/mutants.toml. A one-in-four sample is `run 0 4`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

MUTANTS_VERSION=25.3.1

install() {
    if ! cargo mutants --version 2>/dev/null | grep -qx "cargo-mutants ${MUTANTS_VERSION}"; then
        cargo install cargo-mutants --version "${MUTANTS_VERSION}" --locked
    fi
}

case "${1:-}" in
run)
    k=${2:?shard index}
    n=${3:?shard count}
    budget=${4:-21600}
    install
    out="target/mutants/shard-${k}-of-${n}"
    mkdir -p "${out}"
    # cargo-mutants copies the tree as it is now: record this commit, not the one at the end.
    commit=$(git rev-parse --short HEAD)
    [ -z "$(git status --porcelain -- engine fuzz corpus .cargo)" ] || commit="${commit}+uncommitted"
    # The baseline: the gate must pass on the unmutated tree (cargo-mutants 25.3.1 would run
    # the engine's own tests instead, so its baseline is skipped).
    cargo test -p vmfuzz -p vmfuzz-canary --test corpus --test canaries --test seeded_campaign
    status=0
    timeout --signal=INT "${budget}" \
        cargo mutants --no-shuffle --shard "${k}/${n}" --output "${out}" \
        --baseline skip --timeout 90 --build-timeout 900 || status=$?
    dest="docs/mutants/shard-${k}-of-${n}"
    mkdir -p "${dest}"
    for f in caught missed timeout unviable; do
        sort "${out}/mutants.out/${f}.txt" >"${dest}/${f}.txt" 2>/dev/null || : >"${dest}/${f}.txt"
    done
    {
        echo "cargo-mutants ${MUTANTS_VERSION}, shard ${k}/${n}, exit status ${status}"
        echo "date: $(date -u +%Y-%m-%d)"
        echo "machine: $(nproc) cores, $(uname -m)"
        echo "commit: ${commit}"
    } >"${dest}/run.txt"
    echo "shard ${k}/${n}: outcomes in ${dest}/ (exit status ${status}; 2 means some mutants were missed)"
    ;;
merge)
    shopt -s nullglob
    dirs=(docs/mutants/shard-*-of-*)
    [ ${#dirs[@]} -gt 0 ] || { echo "no shard recorded under docs/mutants/" >&2; exit 2; }
    for f in caught missed timeout unviable; do
        cat "${dirs[@]/%//${f}.txt}" | sort -u >"docs/mutants/${f}.txt"
    done
    caught=$(wc -l <docs/mutants/caught.txt)
    missed=$(wc -l <docs/mutants/missed.txt)
    timeout=$(wc -l <docs/mutants/timeout.txt)
    unviable=$(wc -l <docs/mutants/unviable.txt)
    viable=$((caught + missed + timeout))
    # A timeout is a mutant the tests stopped (a hang they detected): caught.
    echo "shards: ${dirs[*]}"
    echo "caught ${caught}, timeout ${timeout}, missed ${missed}, unviable ${unviable}"
    if [ "${viable}" -gt 0 ]; then
        echo "score: (caught + timeout) / viable = $((caught + timeout)) / ${viable}" \
            "= $(( ((caught + timeout) * 1000 + viable / 2) / viable / 10 )).$(( ((caught + timeout) * 1000 + viable / 2) / viable % 10 ))%"
    fi
    ;;
list)
    install
    cargo mutants --list | wc -l
    ;;
*)
    sed -n '2,14p' "$0"
    exit 2
    ;;
esac
