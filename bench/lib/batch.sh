#!/usr/bin/env bash
# batch.sh N P TAG CMD...: start N containers, P at a time (xargs -P), and wait for all of them.
# Every '@' in CMD becomes TAG-k (k = 1..N): a unique container id per run. Exits non-zero if any failed.
set -euo pipefail
n=$1 p=$2 tag=$3
shift 3
cmd=("${@//@/$tag-@}")
seq 1 "$n" | xargs -P "$p" -I@ "${cmd[@]}"
