#!/bin/bash
# bench/ab.sh OLD NEW [ROUNDS] — two builds of containy paired against each other: `exec /bin/true` into a
# running busybox container and `run /bin/true` of the busybox OCI bundle, alternating OLD and NEW every round,
# timed by `ru`. Prints each build's medians and the paired medians of NEW/OLD. This is how the round-4 rows
# of BENCHMARKS.md were measured: it shows a change of a few per cent that a ratio against crun, which moves
# with the minute, cannot. Run `make bench-check` (or bench/run.sh) once first: it builds `ru` and the bundles.
#
# Keep the two binaries in directories that do not contain the state roots (/var/tmp/containy-ab): `exec`'s
# sealed view stacks the binary's directory over the state root, and overlayfs refuses nested layers (the
# memfd fallback would then be timed instead).
set -euo pipefail
OLD=$1 NEW=$2 N=${3:-60}
WORK=${BENCH_WORK:-/var/tmp/containy-bench}
RU=$WORK/ru
[ -x "$RU" ] && [ -f "$WORK/oci/config.json" ] && [ -f "$WORK/oci-sleep/config.json" ] ||
    { echo "bench/ab.sh: no $RU or bundles under $WORK: run make bench-check once first" >&2; exit 2; }
AB=/var/tmp/containy-ab
rm -rf "$AB" && mkdir -p "$AB/old" "$AB/new"
bin() { if [ "$1" = old ]; then echo "$OLD"; else echo "$NEW"; fi; }
cleanup() {
    for b in old new; do
        "$(bin $b)" --root "$AB/$b" delete --force ab-$b >/dev/null 2>&1 || true
    done
    rm -rf "$AB"
}
trap cleanup EXIT
for b in old new; do
    "$(bin $b)" --root "$AB/$b" create --bundle "$WORK/oci-sleep" ab-$b </dev/null >/dev/null
    "$(bin $b)" --root "$AB/$b" start ab-$b
done
for i in $(seq "$N"); do
    for b in old new; do
        { printf '%s ' $b; "$RU" "$(bin $b)" --root "$AB/$b" exec ab-$b /bin/true 3>&1 >/dev/null; } >>"$AB/exec.txt"
        { printf '%s ' $b; "$RU" "$(bin $b)" --root "$AB/$b" run --bundle "$WORK/oci" r-$b-$i 3>&1 </dev/null >/dev/null; } >>"$AB/run.txt"
    done
done
python3 - "$AB" <<'PY'
import statistics, sys
for what in ("exec", "run"):
    rows = [line.split() for line in open(f"{sys.argv[1]}/{what}.txt")]
    old = [r for r in rows if r[0] == "old"]
    new = [r for r in rows if r[0] == "new"]
    wall = lambda r: float(r[1])
    cpu = lambda r: float(r[2]) + float(r[3])
    med = lambda rs, f: statistics.median(f(r) for r in rs) * 1000
    paired = lambda f: statistics.median(f(n) / f(o) for o, n in zip(old, new))
    print(f"{what}: old wall {med(old, wall):.3f} ms, CPU {med(old, cpu):.3f} ms | new wall {med(new, wall):.3f} ms, "
          f"CPU {med(new, cpu):.3f} ms | paired new/old: wall {paired(wall):.3f}, CPU {paired(cpu):.3f} ({len(old)} rounds)")
PY
