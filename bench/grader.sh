#!/usr/bin/env bash
# bench/grader.sh — an autograder's load: many short runs of a small program, 2 at a time (this machine's
# cores), each with memory, pids and time limits and its output captured, in the Debian base. Two programs:
# a shell one-liner and a Python script. containy (every limit, the output cap and a result record per run)
# against runc and crun (what an OCI runtime can express: memory, pids and rlimits in config.json; the time
# limit from `timeout`, the output cap from `head -c`) and bubblewrap (no cgroups at all; `timeout` and
# `head -c` again). Part of `make bench`; alone: `make bench-grader`.
#
#   sudo bench/grader.sh                     # GRADER_RUNS=1000 runs per runtime and program (the issue's count)
#   sudo GRADER_RUNS=100 bench/grader.sh     # fewer, on a busy machine
#
# Knobs: GRADER_RUNS (1000, split over the rounds), GRADER_ROUNDS (5; runtimes take turns every round:
# A B C D A B C D …), GRADER_PARALLEL (2), GRADER_RUNTIMES ("containy crun runc bwrap"), GRADER_PROGRAMS
# ("sh python"), GRADER_BASE (bundle/debian.tar.gz, made by `make bundle/debian.tar.gz`), GRADER_ROOTFS
# (readonly: containy uses the base directly and read-only, as runc/crun/bwrap do here; overlay: containy's
# default, a writable overlay per run), CONTAINY (target/release/containy, else target/debug).
#
# crun on this hybrid cgroup host: crun refuses to start at all while /sys/fs/cgroup/unified is a cgroup2
# mount with a controller ("cgroups in hybrid mode not supported"), also with --cgroup-manager=disabled. It is
# run in a private mount namespace (`unshare -m`) where that one mount is detached: crun then sees a plain v1
# host and applies the same memory and pids limits as runc, in the real v1 hierarchies — the host's mounts are
# not changed. crun itself is unpacked from Debian's package into the work dir, not installed (installed, it
# would become podman's default runtime for everyone on the machine).
#
# Prints, per program and runtime, the median over rounds of runs per second and CPU (user+sys of everything
# it started, from /usr/bin/time) per run; the raw rounds go to bench/results/grader.tsv.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
RUNS=${GRADER_RUNS:-1000}
ROUNDS=${GRADER_ROUNDS:-5}
PARALLEL=${GRADER_PARALLEL:-2}
RUNTIMES=${GRADER_RUNTIMES:-containy crun runc bwrap}
PROGRAMS=${GRADER_PROGRAMS:-sh python}
ROOTFS=${GRADER_ROOTFS:-readonly}
BASE=${GRADER_BASE:-bundle/debian.tar.gz}
CONTAINY=${CONTAINY:-$PWD/target/release/containy}
[ -x "$CONTAINY" ] || CONTAINY=$PWD/target/debug/containy
[ -x "$CONTAINY" ] || { echo "grader: build containy first (cargo build --release)" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "grader: run as root (containers with cgroups)" >&2; exit 2; }
[ -f "$BASE" ] || { echo "grader: no Debian base at $BASE: make bundle/debian.tar.gz" >&2; exit 2; }
PER_ROUND=$(((RUNS + ROUNDS - 1) / ROUNDS))
OUT=bench/results/grader.tsv

# Tools: Debian packages, installed only when missing (as bench/run.sh does); crun only unpacked (above).
missing=()
for p in runc bubblewrap time util-linux; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "grader: installing ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null; } || echo "grader: could not install ${missing[*]}" >&2
fi

W=$(mktemp -d /var/tmp/containy-grader.XXXXXX)
TAG=g$$
cleanup() {
    set +e
    # Anything a failed run left: runc/crun state, cgroups named after this run, then the work dir.
    for id in $(runc --root "$W/runc" list -q 2>/dev/null); do runc --root "$W/runc" delete -f "$id" >/dev/null 2>&1; done
    if [ -x "$W/crun/usr/bin/crun" ]; then
        for id in $("$W/crun/usr/bin/crun" --root "$W/crun-state" list -q 2>/dev/null); do
            "$W/crun/usr/bin/crun" --root "$W/crun-state" delete -f "$id" >/dev/null 2>&1
        done
    fi
    find /sys/fs/cgroup -mindepth 1 -maxdepth 3 -type d -name "$TAG-*" 2>/dev/null | sort -r | xargs -r rmdir 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT

# The Debian base, once, for every runtime (read-only for all of them), with the Python program in it.
mkdir -p "$W/debian" "$W/r"
tar -C "$W/debian" -xzf "$BASE"
[ -x "$W/debian/usr/bin/python3" ] || { echo "grader: $BASE has no python3 (make it with the Makefile's debootstrap)" >&2; exit 2; }
mkdir -p "$W/debian/grader"
cat > "$W/debian/grader/solution.py" <<'PY'
# A test case of an exercise: a little work, a little output.
def primes(n):
    sieve = bytearray([1]) * (n + 1)
    sieve[0:2] = b"\0\0"
    for i in range(2, int(n ** 0.5) + 1):
        if sieve[i]:
            sieve[i * i :: i] = bytearray(len(sieve[i * i :: i]))
    return [i for i, p in enumerate(sieve) if p]

found = primes(20000)
print("done", len(found), found[-1])
PY
SH_PROGRAM='i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done; echo done $i'
program_args() { # program -> JSON array of the command
    case $1 in
    sh) echo "[\"/bin/sh\", \"-c\", \"$SH_PROGRAM\"]" ;;
    python) echo '["/usr/bin/python3", "-S", "/grader/solution.py"]' ;;
    esac
}

# containy: every limit, the output cap and a record; one bundle per program.
for prog in $PROGRAMS; do
    mkdir -p "$W/containy-$prog"
    cat > "$W/containy-$prog/configy.toml" <<EOF
network = "none"
[process]
args = $(program_args "$prog")
env = ["PATH=/usr/bin:/bin", "HOME=/root"]
[rootfs]
path = "$W/debian"
$([ "$ROOTFS" = overlay ] && echo 'mode = "overlay"' || printf 'mode = "direct"\nreadonly = true')
[resources]
memory = "128M"
pids = 32
[limits]
cpu_time = "2s"
wall_time = "5s"
output = "64K"
processes = 32
file_size = "1M"
open_files = 64
EOF
done

# runc/crun: an OCI bundle per program with the limits config.json can hold (memory, pids, rlimits).
for prog in $PROGRAMS; do
    mkdir -p "$W/oci-$prog" && (cd "$W/oci-$prog" && runc spec)
    python3 - "$W/oci-$prog/config.json" "$W/debian" "$(program_args "$prog")" <<'PY'
import json, sys
path, rootfs, args = sys.argv[1:]
spec = json.load(open(path))
spec["root"] = {"path": rootfs, "readonly": True}
spec["process"]["terminal"] = False
spec["process"]["args"] = json.loads(args)
spec["process"]["env"] = ["PATH=/usr/bin:/bin", "HOME=/root"]
spec["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 64, "hard": 64},
                              {"type": "RLIMIT_FSIZE", "soft": 1 << 20, "hard": 1 << 20}]
spec["linux"]["resources"] = {"memory": {"limit": 128 << 20}, "pids": {"limit": 32}}
json.dump(spec, open(path, "w"))
PY
done

# crun: Debian's package, unpacked here.
if [[ " $RUNTIMES " == *" crun "* ]]; then
    (cd "$W" && apt-get download crun >/dev/null 2>&1 && dpkg-deb -x crun_*.deb "$W/crun") ||
        echo "grader: could not fetch Debian's crun package" >&2
fi
CRUN=$W/crun/usr/bin/crun

one() { # runtime program index
    local rt=$1 prog=$2 i=$3
    case $rt in
    containy) "$CONTAINY" --root "$W/state" run --bundle "$W/containy-$prog" --result "$W/r/$i.json" "$TAG-$i" >/dev/null ;;
    runc) timeout -s KILL 5 runc --root "$W/runc" run --bundle "$W/oci-$prog" "$TAG-$i" </dev/null | head -c 65536 >/dev/null ;;
    crun) timeout -s KILL 5 "$CRUN" --root "$W/crun-state" run --bundle "$W/oci-$prog" "$TAG-$i" </dev/null | head -c 65536 >/dev/null ;;
    bwrap)
        local cmd=(/usr/bin/python3 -S /grader/solution.py)
        [ "$prog" = sh ] && cmd=(/bin/sh -c "$SH_PROGRAM")
        timeout -s KILL 5 bwrap --ro-bind "$W/debian" / --proc /proc --dev /dev --unshare-all --die-with-parent \
            --clearenv --setenv PATH /usr/bin:/bin "${cmd[@]}" </dev/null | head -c 65536 >/dev/null ;;
    esac
}
export -f one program_args
export W CONTAINY CRUN TAG SH_PROGRAM

# A batch of runs of one runtime; crun's in a mount namespace without the cgroup2 mount (see the header).
batch() { # runtime program first-index
    local cmd="seq $3 $(($3 + PER_ROUND - 1)) | xargs -P $PARALLEL -I{} bash -c 'one $1 $2 {}'"
    case $1 in
    crun) unshare -m --propagation private bash -c "umount -l /sys/fs/cgroup/unified 2>/dev/null; $cmd" ;;
    *) bash -c "$cmd" ;;
    esac
}

available() { # runtime: one run of each program, its output checked
    local out prog
    for prog in $PROGRAMS; do
        out=$(probe "$1" "$prog" 2>&1) && [[ "$out" == done* ]] ||
            { echo "grader: $1: not measured ($prog: ${out:0:200})" >&2; return 1; }
    done
}
probe() { # runtime program
    case $1 in
    containy) "$CONTAINY" --root "$W/state" run --bundle "$W/containy-$2" "$TAG-probe" ;;
    runc) runc --root "$W/runc" run --bundle "$W/oci-$2" "$TAG-probe" </dev/null ;;
    crun) [ -x "$CRUN" ] && unshare -m --propagation private bash -c \
        "umount -l /sys/fs/cgroup/unified 2>/dev/null; exec $CRUN --root $W/crun-state run --bundle $W/oci-$2 $TAG-probe" </dev/null ;;
    bwrap)
        local cmd=(/usr/bin/python3 -S /grader/solution.py)
        [ "$2" = sh ] && cmd=(/bin/sh -c "$SH_PROGRAM")
        command -v bwrap >/dev/null && bwrap --ro-bind "$W/debian" / --proc /proc --dev /dev --unshare-all \
            --clearenv --setenv PATH /usr/bin:/bin "${cmd[@]}" </dev/null ;;
    esac
}

echo "grader: containy root filesystem: $ROOTFS (GRADER_ROOTFS); $RUNS runs per runtime and program, $ROUNDS rounds, $PARALLEL at a time" >&2
measured=()
for rt in $RUNTIMES; do
    if available "$rt"; then measured+=("$rt"); fi
done

echo -e "round\tprogram\truntime\truns\tparallel\twall_s\tcpu_s" > "$OUT"
first=1
for round in $(seq 1 "$ROUNDS"); do
    for prog in $PROGRAMS; do
        for rt in "${measured[@]}"; do
            t=$( { /usr/bin/time -f "%e %U %S" bash -c "$(declare -f batch); PER_ROUND=$PER_ROUND PARALLEL=$PARALLEL batch $rt $prog $first" >/dev/null || true; } 2>&1 | tail -n 1)
            first=$((first + PER_ROUND))
            read -r wall user sys <<<"$t"
            echo -e "$round\t$prog\t$rt\t$PER_ROUND\t$PARALLEL\t$wall\t$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')" >> "$OUT"
        done
    done
done

# The records say the runs did what they should: every one OK (a failed run would be counted as fast).
python3 - "$W/r" <<'PY' >&2
import collections, json, os, sys
statuses = collections.Counter(json.load(open(os.path.join(sys.argv[1], f)))["status"] for f in os.listdir(sys.argv[1]))
print(f"grader: containy wrote {sum(statuses.values())} result records: {dict(statuses)}")
PY

python3 - "$OUT" "$RUNS" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
rounds = len({r["round"] for r in rows})
print(f"{'program':8} {'runtime':10} {'runs':>6} {'runs/s':>8} {'CPU ms/run':>11}   (median of {rounds} rounds)")
for prog in dict.fromkeys(r["program"] for r in rows):
    for rt in dict.fromkeys(r["runtime"] for r in rows):
        mine = [r for r in rows if r["runtime"] == rt and r["program"] == prog]
        if not mine:
            continue
        runs = sum(int(r["runs"]) for r in mine)
        rate = statistics.median(int(r["runs"]) / float(r["wall_s"]) for r in mine)
        cpu = statistics.median(1000 * float(r["cpu_s"]) / int(r["runs"]) for r in mine)
        print(f"{prog:8} {rt:10} {runs:6} {rate:8.1f} {cpu:11.1f}")
PY
