#!/usr/bin/env bash
# `make fuzz`: build every fuzz target (cargo-fuzz, libFuzzer, AddressSanitizer, debug assertions) and run each
# for FUZZ_SECONDS on its checked-in corpus (fuzz/corpus/<target>/). New inputs go to a scratch corpus that is
# thrown away, so a run leaves the tree as it was; a crash leaves its input in fuzz/artifacts/<target>/ and makes
# the run fail (after the other targets ran). Prints one line per target: executions, coverage, corpus, result.
# Stable Rust only: cargo-fuzz needs -Z flags, which RUSTC_BOOTSTRAP=1 allows on a stable toolchain.
set -uo pipefail
cd "$(dirname "$0")/.."
export RUSTC_BOOTSTRAP=1
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
TARGETS=${FUZZ_TARGETS:-$(sed -n 's/^name = "\([a-z_]*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^containy-fuzz$')}
command -v cargo-fuzz >/dev/null || { echo "fuzz: cargo-fuzz not found: run ./install.sh" >&2; exit 1; }

# Archives need room; the text parsers keep libFuzzer's default (4 KiB, or the largest corpus file).
max_len() {
    case $1 in
        tar_extract | image_import | image_layout) echo 65536 ;;
        *) echo 0 ;;
    esac
}

cargo fuzz build --debug-assertions || exit 1
logs=$(mktemp -d)
scratch_root=${CONTAINY_FUZZ_TMP:-/dev/shm}
failed=()
printf '%-18s %12s %10s %8s %8s %8s  %s\n' target seconds executions exec/s cov ft result
for t in $TARGETS; do
    scratch=$(mktemp -d)
    args=(-max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
    [ "$(max_len "$t")" = 0 ] || args+=(-max_len="$(max_len "$t")")
    cargo fuzz run --debug-assertions "$t" "$scratch" "fuzz/corpus/$t" -- "${args[@]}" >"$logs/$t.log" 2>&1
    rc=$?
    rm -rf "$scratch" "$scratch_root"/containy-fuzz-*
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.log" | tail -1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$logs/$t.log" | tail -1)
    last=$(grep -E '^#[0-9]+' "$logs/$t.log" | tail -1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    result=ok
    if [ $rc -ne 0 ]; then
        result="CRASH (exit $rc), log: $logs/$t.log"
        failed+=("$t")
    fi
    printf '%-18s %12s %10s %8s %8s %8s  %s\n' "$t" "$FUZZ_SECONDS" "${execs:-?}" "${speed:-?}" "${cov:-?}" "${ft:-?}" "$result"
done
if [ ${#failed[@]} -gt 0 ]; then
    for t in "${failed[@]}"; do
        echo "=== $t ==="
        grep -A40 -m1 -E 'panicked|ERROR: (libFuzzer|AddressSanitizer)' "$logs/$t.log"
    done
    echo "fuzz: ${failed[*]} crashed; inputs in fuzz/artifacts/; logs in $logs" >&2
    exit 1
fi
rm -rf "$logs"
