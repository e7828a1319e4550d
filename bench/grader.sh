#!/usr/bin/env bash
# bench/grader.sh — an autograder's load: many short runs of a small program, 2 at a time (this machine's
# cores), each with memory, pids and time limits and its output captured. containy (all limits, the output cap
# and a result record per run) against runc and crun (what an OCI runtime can express: memory and pids in
# config.json; the time limit from `timeout`, the output cap from `head -c`) and bubblewrap (no cgroups at
# all; `timeout` and `head -c` again). Missing tools are installed from Debian's packages; a runtime that
# cannot run here is reported as not measured.
#
#   sudo bench/grader.sh                    # GRADER_RUNS=20 runs per runtime and round, 3 rounds
#   sudo GRADER_RUNS=1000 bench/grader.sh   # the issue's 1,000 runs
#
# Knobs: GRADER_RUNS (20), GRADER_ROUNDS (3; runtimes take turns every round: A B C A B C …), GRADER_PARALLEL
# (2), GRADER_RUNTIMES ("containy runc crun bwrap"), CONTAINY (target/release/containy, else target/debug).
# Prints, per runtime, the median over rounds of runs per second and CPU (user+sys of everything it started,
# from /usr/bin/time) per run; the raw rounds go to bench/results/grader.tsv.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
RUNS=${GRADER_RUNS:-20}
ROUNDS=${GRADER_ROUNDS:-3}
PARALLEL=${GRADER_PARALLEL:-2}
RUNTIMES=${GRADER_RUNTIMES:-containy runc crun bwrap}
CONTAINY=${CONTAINY:-$PWD/target/release/containy}
[ -x "$CONTAINY" ] || CONTAINY=$PWD/target/debug/containy
[ -x "$CONTAINY" ] || { echo "grader: build containy first (cargo build --release)" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "grader: run as root (containers with cgroups)" >&2; exit 2; }
OUT=bench/results/grader.tsv

# Tools: Debian packages, installed only when missing (as bench/run.sh does). crun is measured only where it is
# installed and runs: it refuses a hybrid cgroup host (see bench/run.sh, BENCH_CRUN_HUGETLB), and installing it
# there would make it podman's default runtime for everyone.
missing=()
for p in runc bubblewrap time busybox-static; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "grader: installing ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null; } || echo "grader: could not install ${missing[*]}" >&2
fi
# The program: a little CPU, a little output — what a test case of an exercise does.
PROGRAM='i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done; echo done $i'

W=$(mktemp -d /var/tmp/containy-grader.XXXXXX)
cleanup() {
    # Anything a failed run left: containy and runc state, then the work dir.
    for id in $(runc --root "$W/runc" list -q 2>/dev/null); do runc --root "$W/runc" delete -f "$id" >/dev/null 2>&1 || true; done
    rm -rf "$W"
}
trap cleanup EXIT

# One busybox root filesystem for every runtime.
mkdir -p "$W/rootfs/bin" "$W/rootfs"/{proc,sys,dev,tmp,etc} "$W/r"
cp "$(command -v busybox)" "$W/rootfs/bin/busybox"
for a in $("$W/rootfs/bin/busybox" --list); do [ "$a" = busybox ] || ln -s busybox "$W/rootfs/bin/$a"; done

# containy: every limit, the output cap and a record.
mkdir -p "$W/containy"
cat > "$W/containy/configy.toml" <<EOF
[process]
args = ["/bin/sh", "-c", "$PROGRAM"]
[rootfs]
path = "$W/rootfs"
[resources]
memory = "64M"
pids = 32
[limits]
cpu_time = "2s"
wall_time = "5s"
output = "64K"
processes = 32
file_size = "1M"
open_files = 64
EOF

# runc/crun: an OCI bundle with the limits config.json can hold (memory, pids, rlimits).
if command -v runc >/dev/null; then
    mkdir -p "$W/oci" && (cd "$W/oci" && runc spec)
    python3 - "$W/oci/config.json" "$W/rootfs" "$PROGRAM" <<'PY'
import json, sys
path, rootfs, program = sys.argv[1:]
spec = json.load(open(path))
spec["root"] = {"path": rootfs, "readonly": True}
spec["process"]["terminal"] = False
spec["process"]["args"] = ["/bin/sh", "-c", program]
spec["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 64, "hard": 64},
                              {"type": "RLIMIT_FSIZE", "soft": 1 << 20, "hard": 1 << 20}]
spec["linux"]["resources"] = {"memory": {"limit": 64 << 20}, "pids": {"limit": 32}}
json.dump(spec, open(path, "w"))
PY
fi

one() { # runtime index
    local rt=$1 i=$2
    case $rt in
    containy) "$CONTAINY" --root "$W/state" run --bundle "$W/containy" --result "$W/r/$i.json" "g$$-$i" >/dev/null ;;
    runc | crun) timeout -s KILL 5 "$rt" --root "$W/$rt" run --bundle "$W/oci" "g$$-$i" </dev/null | head -c 65536 >/dev/null ;;
    bwrap) timeout -s KILL 5 bwrap --ro-bind "$W/rootfs" / --proc /proc --dev /dev --unshare-all --die-with-parent \
        /bin/sh -c "$PROGRAM" </dev/null | head -c 65536 >/dev/null ;;
    esac
}
export -f one
export W CONTAINY PROGRAM

available() {
    case $1 in
    containy) true ;;
    crun) command -v crun >/dev/null && crun --root "$W/crun" run --bundle "$W/oci" "g$$-probe" >/dev/null 2>&1 ;;
    *) command -v "$1" >/dev/null ;;
    esac
}

measured=()
for rt in $RUNTIMES; do
    if available "$rt"; then measured+=("$rt"); else echo "grader: $rt: not measured (not installed or cannot run here)" >&2; fi
done

echo -e "round\truntime\truns\tparallel\twall_s\tcpu_s" > "$OUT"
for round in $(seq 1 "$ROUNDS"); do
    for rt in "${measured[@]}"; do
        t=$( { /usr/bin/time -f "%e %U %S" bash -c \
            "seq 1 $RUNS | xargs -P $PARALLEL -I{} bash -c 'one $rt \$((${round}000000 + {}))'" >/dev/null; } 2>&1 | tail -n 1)
        read -r wall user sys <<<"$t"
        echo -e "$round\t$rt\t$RUNS\t$PARALLEL\t$wall\t$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')" >> "$OUT"
    done
done

# A sample record, so the numbers above are known to have come with one.
ls "$W/r" | head -n 1 | sed "s|^|grader: containy wrote $(ls "$W/r" | wc -l) result records, e.g. |" >&2

python3 - "$OUT" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
print(f"{'runtime':10} {'runs/s':>8} {'CPU ms/run':>11}   (median of {len({r['round'] for r in rows})} rounds)")
for rt in dict.fromkeys(r["runtime"] for r in rows):
    mine = [r for r in rows if r["runtime"] == rt]
    rate = statistics.median(int(r["runs"]) / float(r["wall_s"]) for r in mine)
    cpu = statistics.median(1000 * float(r["cpu_s"]) / int(r["runs"]) for r in mine)
    print(f"{rt:10} {rate:8.1f} {cpu:11.1f}")
PY
