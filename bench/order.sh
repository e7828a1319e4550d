#!/usr/bin/env bash
# bench/order.sh — the functions containy's run path executes, in the order it first runs them, written to
# bench/run-path.order (the OCI path: run, create/start/exec/kill/delete of a bundle) and
# bench/friendly-path.order (what a configy.toml run adds), which `make release` gives lld, in that order, as
# `--symbol-ordering-file`.
#
# Why: a container start touches a few hundred KiB of containy's code spread over a 6 MB text (the friendly
# configs, images, networks, lessons and the engine's CLI verbs share the binary and never run here; the daemon
# and the registry client are in containy-engine since src/handover.rs). The kernel maps text in 64 KiB
# windows around every page fault (fault-around), so scattered code costs page faults and resident memory
# out of all proportion to its size. Laid out first and together, the run path's functions fill a few
# windows and the rest of the binary is never faulted in (BENCHMARKS.md, "Where the RSS goes").
#
# How: perf samples (cpu-clock, every 20 µs) over many `run`, `create/start/exec/delete` and friendly-config
# runs name the functions that take time; the page faults of the *current* binary name the rest: a function
# that still faults sits in a cold window (bench/lib/faults.py maps each faulting instruction fetch back to
# its function). Both are merged into the file after what it already holds, so each run of this script on a
# binary built with the file converges further (two or three rounds reach a handful of windows). Symbol
# names carry a hash of the crate and of the function's signature, not of its code, so the file stays valid
# across most edits; a stale name is skipped by lld (`--no-warn-symbol-ordering`) and counted by
# `make release`, and the next run here drops it. Re-run after big changes, then `make release`:
#   sudo bench/order.sh            (needs the bundle of bench/run.sh in $BENCH_WORK, and linux-perf)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
WORK=${BENCH_WORK:-/var/tmp/containy-bench}
RUNS=${ORDER_RUNS:-150}
BIN=$PWD/target/release/containy
OCI=$PWD/bench/run-path.order
FRIENDLY=$PWD/bench/friendly-path.order
[ "$(id -u)" = 0 ] || { echo "bench/order.sh: needs root (it runs containers)" >&2; exit 1; }
[ -x "$BIN" ] || { echo "bench/order.sh: no $BIN (make release)" >&2; exit 1; }
[ -f "$WORK/oci/config.json" ] || { echo "bench/order.sh: no $WORK/oci (run make bench once)" >&2; exit 1; }

TMP=$(mktemp -d /tmp/containy-order.XXXXXX)
mount -t tmpfs -o size=256m containy-order "$TMP"
# The workload runs the binary through a read-only bind mount of it: sealed as it is, so the verbs that start
# a process inside a container do not re-execute from the view (src/runtime/sealed_exe.rs), and perf sees one
# image per process, under one path it can read symbols from. The code path is the re-executed image's.
touch "$TMP/containy"
mount --bind "$BIN" "$TMP/containy"
mount -o remount,bind,ro "$TMP/containy"
cleanup() {
    set +e
    "$TMP/containy" --root "$TMP/state" delete --force co-sleep >/dev/null 2>&1
    umount "$TMP/containy"
    umount "$TMP" && rmdir "$TMP"
}
trap cleanup EXIT
mkdir -p "$TMP/state" "$TMP/friendly" "$TMP/sleep"
cat >"$TMP/friendly/configy.toml" <<EOF
[process]
args = ["/bin/true"]
seccomp = "default"
[rootfs]
path = "$WORK/oci/rootfs"
mode = "overlay"
EOF
python3 - "$WORK/oci/config.json" "$TMP/sleep/config.json" "$WORK/oci/rootfs" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["args"] = ["/bin/sleep", "3600"]
c["root"]["path"] = sys.argv[3]
json.dump(c, open(sys.argv[2], "w"))
EOF

# The workload: what an engine and a grader do most, in proportion.
cat >"$TMP/work.sh" <<EOF
#!/bin/sh
set -e
C="$TMP/containy --root $TMP/state"
i=0
while [ \$i -lt \$1 ]; do
    \$C run --bundle $WORK/oci co-run-\$i
    [ "\$2" = oci ] || \$C run --cache $TMP/cache --bundle $TMP/friendly co-friendly-\$i
    i=\$((i + 1))
done
\$C create --bundle $TMP/sleep co-sleep </dev/null >/dev/null
\$C start co-sleep
i=0
while [ \$i -lt \$1 ]; do \$C exec co-sleep /bin/true; i=\$((i + 1)); done
\$C state co-sleep >/dev/null
\$C kill co-sleep KILL
\$C delete --force co-sleep
EOF
chmod +x "$TMP/work.sh"

run_workload() { # OUT.DATA EVENT-ARGS... -- ROUNDS [oci]
    local out=$1
    shift
    perf record -q -o "$out" "$@" >/dev/null 2>"$TMP/work.err" ||
        { echo "bench/order.sh: the workload failed:" >&2; tail -5 "$TMP/work.err" >&2; exit 1; }
}
echo "sampling $RUNS rounds of the OCI path (run, exec) and of the friendly run" >&2
run_workload "$TMP/oci-samples.data" -e cpu-clock -c 20000 -- "$TMP/work.sh" "$RUNS" oci
run_workload "$TMP/all-samples.data" -e cpu-clock -c 20000 -- "$TMP/work.sh" "$((RUNS / 2))"
run_workload "$TMP/oci-faults.data" -e exceptions:page_fault_user -- "$TMP/work.sh" 3 oci
run_workload "$TMP/all-faults.data" -e exceptions:page_fault_user -- "$TMP/work.sh" 3
sampled() { # PERF.DATA: the containy functions the samples hit, in order of first appearance
    perf script -i "$1" --no-demangle -F ip,sym,dso 2>/dev/null | awk -v bin="$TMP/containy" '
        index($0, bin) && NF >= 3 { sym = $2; if (sym != "[unknown]" && !(sym in seen)) { seen[sym] = 1; print sym } }'
}
faulted() { # PERF.DATA [--windows]: the containy functions whose code took a page fault
    perf script -i "$1" --show-task-events -F comm,pid,trace 2>/dev/null | python3 bench/lib/faults.py "$BIN" "${@:2}"
}
echo "before: $(faulted "$TMP/oci-faults.data" --windows) on the OCI path" >&2
echo "before: $(faulted "$TMP/all-faults.data" --windows) on the OCI and friendly paths" >&2
# Two lists, the OCI path's first: it is what engines and graders run thousands of times, and its functions
# together should fill as few windows as possible. Each list keeps what it had (the layout the current binary
# was measured with) less the names this binary no longer has (a changed signature changes a symbol's hash;
# `make release` counts such stale names), then what still faulted (functions no sample hit: each sat in a
# cold window), then what the samples hit.
nm --defined-only "$BIN" | awk '{ print $3 }' >"$TMP/symbols"
present() { [ -f "$1" ] && grep -xF -f "$TMP/symbols" "$1" || true; }
{
    present "$OCI"
    faulted "$TMP/oci-faults.data"
    sampled "$TMP/oci-samples.data"
} | awk 'NF && !seen[$0]++' >"$OCI.tmp"
{
    present "$FRIENDLY"
    faulted "$TMP/all-faults.data"
    sampled "$TMP/all-samples.data"
} | awk 'NF && !seen[$0]++' | grep -vxF -f "$OCI.tmp" >"$FRIENDLY.tmp" || true
mv "$OCI.tmp" "$OCI"
mv "$FRIENDLY.tmp" "$FRIENDLY"
echo "$OCI: $(wc -l <"$OCI") functions; $FRIENDLY: $(wc -l <"$FRIENDLY")" >&2

# The proof that the OCI run path (run, create/start/exec/delete of a bundle) does not touch the engine, the registry client or TLS: which crates and
# modules the sampled functions belong to (legacy mangling: _ZN<len><name>...), and how much of the text.
{ faulted "$TMP/oci-faults.data"; sampled "$TMP/oci-samples.data"; } | awk 'NF && !seen[$0]++' >"$TMP/oci-now"
python3 - "$TMP/oci-now" "$BIN" <<'PY' >"$PWD/bench/results/run-path-crates.txt"
import re, subprocess, sys
order = [l.strip() for l in open(sys.argv[1]) if l.strip()]
sizes = {}
for line in subprocess.run(["nm", "-S", "--defined-only", sys.argv[2]], capture_output=True, text=True).stdout.splitlines():
    parts = line.split()
    if len(parts) == 4 and parts[2] in "tTwW":
        sizes[parts[3]] = int(parts[1], 16)
text = sum(sizes.values())
def owner(sym):
    """The crate (containy: crate::module) a mangled Rust symbol belongs to; an impl by its self type."""
    m = re.match(r"_ZN(\d+)", sym)
    if not m:
        return "C (libc, libseccomp)"
    name = sym[m.end():m.end() + int(m.group(1))].lstrip("_")  # a leading `$` is mangled as `_$`
    if name.startswith("$LT$"):  # <Type as Trait>::f: the type's path, e.g. $LT$containy..cli..RunArgs$u20$as...
        path = re.sub(r"^(\$LT\$|\$RF\$|mut\$u20\$|\$BP\$|_)+", "", name).split("$u20$as$u20$")[0]
        parts = [p for p in path.split("..") if p]
        return "::".join(parts[:2]) if parts and parts[0] == "containy" else (parts[0] if parts else name)
    if name == "containy":
        rest = sym[m.end() + int(m.group(1)):]
        m2 = re.match(r"(\d+)", rest)
        return "containy::" + rest[m2.end():m2.end() + int(m2.group(1))] if m2 else "containy"
    return name.lstrip("_")
by = {}
for s in order:
    k = owner(s); c = by.setdefault(k, [0, 0]); c[0] += 1; c[1] += sizes.get(s, 0)
print(f"OCI path (run, create/start/exec/kill/delete of a bundle; functions this binary ran there, sampled or faulting): {len(order)} functions, {sum(c[1] for c in by.values()) / 1024:.0f} KiB of {text / 1024:.0f} KiB of function text")
for k, (n, size) in sorted(by.items(), key=lambda kv: -kv[1][1]):
    print(f"{k:<40} {n:>5} functions {size / 1024:>8.1f} KiB")
engine = [k for k in by if k in ("tokio", "hyper", "ureq", "rustls", "ring", "h2", "axum", "mio", "hyper_util")
          or k.startswith(("containy::engine", "containy::api", "containy::image"))]
print("engine, registry, image store or TLS code on the OCI run path: " + (", ".join(engine) if engine else "none"))
PY
cat "$PWD/bench/results/run-path-crates.txt" >&2
