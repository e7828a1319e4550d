#!/usr/bin/env bash
# bench/experiments/compare.sh — containy builds side by side (and crun, runc), to measure a change before
# it is made in src/. Build each variant in a scratch copy (see README.md), then:
#
#   bench/experiments/compare.sh base=/tmp/a/containy self-attach=/tmp/b/containy ...
#
# Same method as bench/run.sh (paired, rotated rounds through bench/lib/measure.py; state roots on a
# private tmpfs; crun only with BENCH_CRUN_HUGETLB=1), three measurements: `run` /bin/true back to back,
# isolated starts (100 ms of quiet before each run) and 50 containers 8 at a time. Needs the bundle that
# bench/run.sh leaves in $BENCH_WORK. Prints a markdown table (and keeps the TSVs in bench/results/raw/).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
BENCH=$PWD/bench
WORK=${BENCH_WORK:-/var/tmp/containy-bench}
RAW=$BENCH/results/raw
ROUNDS=${BENCH_ROUNDS:-60}
BATCH_ROUNDS=${BENCH_BATCH_ROUNDS:-8}
TAG=cx$$
say() { printf '\n== %s\n' "$*" >&2; }
note() { printf '   %s\n' "$*" >&2; }
. "$BENCH/lib/hugetlb.sh"
[ -f "$WORK/oci/config.json" ] && [ -x "$WORK/ru" ] || { echo "run bench/run.sh first (no $WORK/oci)" >&2; exit 1; }
[ $# -gt 0 ] || { sed -n '2,10p' "$0" >&2; exit 2; }
mkdir -p "$RAW"

STATE=$(mktemp -d /tmp/containy-compare.XXXX)
mount -t tmpfs -o size=512m cbench-compare "$STATE"
cleanup() {
    set +e
    umount "$STATE" && rmdir "$STATE"
    hugetlb_unmount
}
trap cleanup EXIT
if [ "${BENCH_CRUN_HUGETLB:-0}" = 1 ] && ! crun --root "$STATE/probe" run --bundle "$WORK/oci" "$TAG-probe" >/dev/null 2>&1; then
    hugetlb_mount || true
fi

run_args=() batch_args=()
for spec in "$@"; do
    name=${spec%%=*} bin=${spec#*=}
    run_args+=("$name" "$bin --root $STATE/$name run --bundle $WORK/oci $TAG-{n}")
    batch_args+=("$name" "$BENCH/lib/batch.sh 50 8 $TAG-b{n} $bin --root $STATE/$name run --bundle $WORK/oci @")
done
for rt in crun runc; do
    if [ $rt = crun ] && ! crun --root "$STATE/crun" run --bundle "$WORK/oci" "$TAG-probe2" >/dev/null 2>&1; then
        note "crun: not measured (hybrid cgroups; BENCH_CRUN_HUGETLB=1 mounts hugetlb for it)"
        continue
    fi
    run_args+=("$rt" "$rt --root $STATE/$rt run --bundle $WORK/oci $TAG-{n}")
    batch_args+=("$rt" "$BENCH/lib/batch.sh 50 8 $TAG-b{n} $rt --root $STATE/$rt run --bundle $WORK/oci @")
done
M=(python3 "$BENCH/lib/measure.py" --ru "$WORK/ru" --max-failures 50)
say "run /bin/true, back to back: $ROUNDS rounds"
"${M[@]}" --rounds "$ROUNDS" --warmup 2 --out "$RAW/compare-run.tsv" "${run_args[@]}"
say "run /bin/true, isolated starts: $((ROUNDS / 2)) rounds"
"${M[@]}" --rounds $((ROUNDS / 2)) --warmup 1 --gap 0.1 --out "$RAW/compare-isolated.tsv" "${run_args[@]}"
say "50 containers, 8 at a time: $BATCH_ROUNDS rounds"
"${M[@]}" --rounds "$BATCH_ROUNDS" --warmup 1 --out "$RAW/compare-batch.tsv" "${batch_args[@]}"

python3 - "$RAW" "$1" <<'EOF'
import csv, statistics as st, sys
raw, first = sys.argv[1], sys.argv[2].split("=")[0]
def load(n):
    rows = list(csv.DictReader(open(f"{raw}/compare-{n}.tsv"), delimiter="\t"))
    return rows
def col(rows, name, f):
    return [f(r) for r in rows if r["name"] == name and r["status"] == "0"]
wall = lambda r: float(r["wall_s"]) * 1e3
cpu = lambda r: (float(r["user_s"]) + float(r["sys_s"])) * 1e3
rss = lambda r: int(r["maxrss_kib"]) / 1024
def paired(rows, a, b):
    by = {}
    for r in rows:
        if r["status"] == "0":
            by.setdefault(r["round"], {})[r["name"]] = float(r["wall_s"])
    x = [d[a] / d[b] for d in by.values() if a in d and b in d]
    return st.median(x) if x else float("nan")
run, iso, batch = load("run"), load("isolated"), load("batch")
names = list(dict.fromkeys(r["name"] for r in run))
fails = lambda rows, n: sum(1 for r in rows if r["name"] == n and r["status"] != "0")
print(f"| variant | run wall ms | run CPU ms | peak RSS MiB | isolated wall ms | 50×8 wall s | wall vs {first} (paired: run / isolated / 50×8) | failed runs |")
print("|---|---|---|---|---|---|---|---|")
for n in names:
    m = lambda rows, f: st.median(col(rows, n, f)) if col(rows, n, f) else float("nan")
    print(f"| {n} | {m(run, wall):.1f} | {m(run, cpu):.1f} | {m(run, rss):.2f} | {m(iso, wall):.1f} | "
          f"{m(batch, wall) / 1e3:.3f} | {paired(run, n, first):.2f} / {paired(iso, n, first):.2f} / "
          f"{paired(batch, n, first):.2f} | {fails(run, n) + fails(iso, n)} + {fails(batch, n)} batches |")
EOF
