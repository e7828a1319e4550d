#!/usr/bin/env bash
# bench/profile.sh — where the time, CPU and memory of `containy run` of /bin/true go.
# Run by bench/run.sh (section F), or alone after it (it needs the bundles run.sh made in $BENCH_WORK).
#
#   strace -c -f ........ syscall counts and (traced) time, containy vs crun vs runc: strace-c-*.txt
#   perf trace .......... a timeline of 20 runs split into the run path's phases, ranked: phases.md
#   perf stat -r 20 ..... task-clock, context switches, page faults per runtime: perf-stat-*.txt
#   perf record -g ...... where the CPU goes (kernel vs containy vs ld.so/libc, hottest paths): perf-report.txt
#   valgrind callgrind .. user-space instruction counts of the release build: callgrind.txt
#   /usr/bin/time -v .... one run of each runtime: time-v-*.txt
#   /proc/PID/smaps ..... what the peak RSS is made of, per mapping, each runtime: rss.txt
# Output: bench/results/profile/ (small text files, committed); traces in bench/results/raw/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
WORK=${BENCH_WORK:-/var/tmp/containy-bench}
OUT=$PWD/bench/results/profile
RAW=$PWD/bench/results/raw
CONTAINY=$PWD/target/release/containy
TAG=${TAG:-cbp$$}
N=${BENCH_PROFILE_RUNS:-20}
CRUN_OK=${CRUN_OK:-0}
mkdir -p "$OUT" "$RAW/trace"
[ -f "$WORK/oci/config.json" ] || { echo "profile.sh: run bench/run.sh first (no bundle in $WORK/oci)" >&2; exit 1; }

runtimes=(containy runc)
[ "$CRUN_OK" = 1 ] && runtimes=(containy crun runc)
cmd() { # RUNTIME ID [BUNDLE]
    local b=${3:-$WORK/oci}
    case $1 in
    containy) echo "$CONTAINY --root $WORK/state/containy run --bundle $b $2" ;;
    *) echo "$1 --root $WORK/state/$1 run --bundle $b $2" ;;
    esac
}
note() { printf '   %s\n' "$*" >&2; }

# 1. strace -c -f: one run each (the traced times are inflated by strace; the counts are exact).
for rt in "${runtimes[@]}"; do
    strace -f -c -o "$OUT/strace-c-$rt.txt" $(cmd "$rt" "$TAG-st-$rt") >/dev/null 2>&1 || note "strace $rt failed"
done
note "strace -c: $(for rt in "${runtimes[@]}"; do printf '%s %s syscalls; ' "$rt" "$(awk '/total/{print $(NF-2)}' "$OUT/strace-c-$rt.txt")"; done)"

# 2. perf trace timelines -> phases.
rm -f "$RAW"/trace/*.txt
for i in $(seq 1 "$N"); do
    perf trace -o "$RAW/trace/containy-$i.txt" -- $(cmd containy "$TAG-pt-$i") >/dev/null 2>&1 || note "perf trace run $i failed"
done
{
    echo "# containy run /bin/true: phases of the run path"
    echo
    echo "From \`perf trace\` of $N runs of \`containy run\` on the busybox OCI bundle (bench/lib/phases.py)."
    echo
    python3 bench/lib/phases.py "$RAW"/trace/containy-*.txt
    echo
    for rt in "${runtimes[@]}"; do
        echo "## perf trace -s: $rt"
        echo '```'
        perf trace -s -- $(cmd "$rt" "$TAG-ps-$rt") 2>&1 >/dev/null | grep -v '^$' | sed -n 1,40p
        echo '```'
    done
} >"$OUT/phases.md" 2>&1
note "phases: $OUT/phases.md"

# 3. perf stat: software counters (this VM has no hardware counters: cycles/instructions say <not supported>).
for rt in "${runtimes[@]}"; do
    perf stat -r "$N" -e task-clock,context-switches,cpu-migrations,page-faults,cycles,instructions \
        -o "$OUT/perf-stat-$rt.txt" -- $(cmd "$rt" "$TAG-ps-$rt") >/dev/null 2>&1 || note "perf stat $rt failed"
done

# 4. perf record: CPU profile of 3N runs (call graphs), report by process/library and the hottest paths.
perf record -q -F 20000 -g -o "$RAW/perf.data" -- bash -c \
    "for i in \$(seq 1 $((3 * N))); do $(cmd containy "$TAG-pr-\$i") || exit 1; done" >/dev/null 2>&1 ||
    note "perf record failed"
{
    echo "# perf record -F 20000 -g over $((3 * N)) runs of containy run /bin/true"
    echo
    echo "## samples by command and library"
    perf report -i "$RAW/perf.data" --no-children --sort comm,dso --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | sed -n 1,15p
    echo
    echo "## containy process, inclusive (children) — syscalls and containy functions"
    perf report -i "$RAW/perf.data" --children --comm containy --sort sym --stdio -g none 2>/dev/null |
        grep -v '^#' | grep -v '^$' | grep -E '__x64_sys|__do_sys|containy::|asm_exc_page_fault|copy_net_ns|cgroup_|kernfs|ext4|exec|_dl_|mount' | sed -n 1,60p
} >"$OUT/perf-report.txt"

# 5. callgrind: user-space instructions. Under valgrind clone3 fails with ENOSYS (valgrind 3.19 does not
# implement it), so this counts everything containy does up to the clone plus its error-path cleanup —
# exactly the parent's CPU-bound part (CLI, config, Plan, cgroup/state setup); the rest is kernel time.
valgrind --tool=callgrind --callgrind-out-file="$RAW/callgrind.out" $(cmd containy "$TAG-cg") >"$RAW/callgrind.log" 2>&1 || true
{
    echo "# valgrind --tool=callgrind on target/release/containy run (stops at clone3: ENOSYS under valgrind)"
    echo
    grep -E 'error|Collected' "$RAW/callgrind.log" | sed 's/^==[0-9]*== //'
    echo
    echo "## inclusive"
    callgrind_annotate --inclusive=yes "$RAW/callgrind.out" 2>/dev/null | sed -n '/^Ir/,$p' | grep -v '^--' | sed -n 1,45p
    echo
    echo "## exclusive"
    callgrind_annotate "$RAW/callgrind.out" 2>/dev/null | sed -n '/^Ir/,$p' | grep -v '^--' | sed -n 1,25p
} >"$OUT/callgrind.txt"

# 6. /usr/bin/time -v of one run each (the public tool's view of the same numbers).
for rt in "${runtimes[@]}"; do
    /usr/bin/time -v $(cmd "$rt" "$TAG-tv-$rt") >"$OUT/time-v-$rt.txt" 2>&1 || note "/usr/bin/time -v $rt failed"
done

# 7. Peak RSS, per mapping: each runtime runs `sleep 1`; its smaps are read halfway.
mkdir -p "$WORK/oci-sleep1"
python3 - "$WORK/oci/config.json" "$WORK/oci-sleep1/config.json" "$WORK/oci/rootfs" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["args"] = ["/bin/sleep", "1"]
c["root"]["path"] = sys.argv[3]
json.dump(c, open(sys.argv[2], "w"), indent=2)
EOF
{
    echo "# Resident memory of the runtime process while its container runs (sleep 1), by mapping"
    for rt in "${runtimes[@]}"; do
        $(cmd "$rt" "$TAG-rss-$rt" "$WORK/oci-sleep1") >/dev/null 2>&1 &
        sleep 0.5
        pid=$(pgrep -f -- "--bundle $WORK/oci-sleep1 $TAG-rss-$rt" | sed -n 1,1p || true)
        echo
        echo "## $rt (pid $pid)"
        if [ -n "$pid" ]; then
            grep -E 'VmHWM|VmRSS|RssAnon|RssFile|Threads' "/proc/$pid/status" | tr -s '\t ' ' '
            # Rss counts shared, clean file pages (the binary's text, libc) that every copy of the runtime
            # shares through the page cache; Private_Dirty + anonymous is what one more container really costs.
            grep -E '^(Pss|Private_Clean|Private_Dirty|Anonymous):' "/proc/$pid/smaps_rollup" | tr -s '\t ' ' '
            echo "by mapping (Rss):"
            awk '/^[0-9a-f]+-[0-9a-f]+ /{name=($6==""?"[anon]":$6)} /^Rss:/{r[name]+=$2} END{for(n in r) if(r[n]>0) printf "%7d KiB  %s\n", r[n], n}' \
                "/proc/$pid/smaps" | sort -rn | sed -n 1,12p
        fi
        wait
    done
} >"$OUT/rss.txt" 2>&1
note "profile written to $OUT"
