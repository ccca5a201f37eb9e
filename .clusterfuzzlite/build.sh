#!/bin/bash -eu
# Usage: $SRC/build.sh (ClusterFuzzLite's `compile` runs it). One build for OSS-Fuzz and
# ClusterFuzzLite: ci/oss-fuzz/build.sh.
exec "$SRC/vmfuzz/ci/oss-fuzz/build.sh"
