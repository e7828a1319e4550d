#!/usr/bin/env bash
# bench/run.sh — containy side by side with crun and runc on the same OCI bundle (`make bench`).
#
# What it measures (BENCHMARKS.md explains why and shows the results):
#   A. `run` of /bin/true: wall, CPU (user+sys) and peak RSS per run, paired (containy crun runc, rotated
#      every round), plus an unpaired `hyperfine -N` cross-check (and `/usr/bin/time -v` in F);
#      A2: the same with 100 ms of quiet before each run (a lone start, as opposed to back to back);
#   B. 50 containers, 8 at a time (xargs -P 8): total wall and CPU, paired rounds;
#   C. containy's start latency vs the size of its base (overlay mode): busybox, busybox ×10, Debian,
#      Debian ×10, and Debian named as a tarball (the extracted-cache hot path);
#   D. importing the Debian tarball: `containy extract` (fresh cache) and `containy image import` (fresh store)
#      vs `tar -xzf`;
#   E. exec of /bin/true into a running container (containy create+start, runc/crun run -d), default
#      seccomp vs unconfined, a fully cached rebuild — each only where containy can do it (otherwise
#      "not measured: containy has no exec/seccomp/build yet"; runc/crun exec is still recorded);
#   E2. what friendliness costs: the OCI bundle vs configy.toml over the Debian base, seccomp default/none;
#   F. a profile of containy's run path (bench/profile.sh: strace, perf, callgrind, RSS breakdown);
#   G. pulling a 3-layer Debian image from a local registry: containy pull vs skopeo copy and podman pull
#      (bench/pull.sh; BENCH_PULL_ROUNDS=5).
#   H. the engine: `docker run --rm … /bin/true` (one docker CLI) through containy serve, a private dockerd
#      and podman's service: wall and client/daemon CPU, paired (bench/engine.sh; BENCH_ENGINE_ROUNDS=20).
# Results: bench/results/summary.md (+ plots *.svg, machine.txt, profile/, and history.tsv: one line of
# headline ratios per run, to show the spread on a shared machine); raw data in bench/results/raw/.
#
# Knobs (environment): BENCH_ROUNDS=60 paired rounds for A and E; BENCH_ISOLATED_ROUNDS=half that, at least
# 30, for A2 (a cold start varies more than a warm one: fewer rounds let its ratio wander by ±3 %);
# BENCH_SIZE_ROUNDS=2×that for C (its differences are small); BENCH_BATCH_ROUNDS=12 for B;
# BENCH_FRIENDLY_ROUNDS=3×BENCH_ROUNDS for E2 (seccomp's cost is the difference of two ≈ 5 ms walls: over 30
# rounds its median wandered over 0.23–0.58 ms on one build, more than the 0.5 ms target leaves);
# BENCH_EXTRACT_ROUNDS=3 for D; BENCH_PROFILE=0 skips F; BENCH_CHECK=1 (`make bench-check`) runs A, B and E
# only and then bench/lib/check.py, which exits 1 when a run-path target is missed; BENCH_NO_BUILD=1 uses the existing binary; BENCH_WORK=/var/tmp/containy-bench (bundles and bases, reused
# between runs); BENCH_STATE_TMPFS=1 (default) puts the three runtimes' state roots — and so containy's
# overlay upper dirs — on a private tmpfs in $BENCH_WORK/state, as /run is on most hosts (here /run is ext4,
# where every mkdir/rename/unlink competes with whatever else writes to the disk); BENCH_CRUN_HUGETLB=1: below.
#
# crun on a hybrid cgroup host: crun refuses to run ("cgroups in hybrid mode not supported") while the
# cgroup2 tree at /sys/fs/cgroup/unified has a controller (hugetlb, on these machines). Mounting hugetlb as
# a v1 hierarchy takes it away from cgroup2 and crun runs — but that changes the host's cgroup mounts for
# everyone, so it happens only with BENCH_CRUN_HUGETLB=1, and the mount is undone at exit (and the hugetlb
# hierarchy handed back to cgroup2). Without it crun's columns say "not measured (hybrid cgroups)".
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT_DIR=$PWD
BENCH=$ROOT_DIR/bench
OUT=$BENCH/results
RAW=$OUT/raw
ROUNDS=${BENCH_ROUNDS:-60}
SIZE_ROUNDS=${BENCH_SIZE_ROUNDS:-$((2 * ROUNDS))}
ISOLATED_ROUNDS=${BENCH_ISOLATED_ROUNDS:-$((ROUNDS / 2 > 30 ? ROUNDS / 2 : 30))}
BATCH_ROUNDS=${BENCH_BATCH_ROUNDS:-12}
FRIENDLY_ROUNDS=${BENCH_FRIENDLY_ROUNDS:-$((3 * ROUNDS))}
BATCH_N=${BENCH_BATCH_N:-50}
BATCH_P=${BENCH_BATCH_P:-8}
EXTRACT_ROUNDS=${BENCH_EXTRACT_ROUNDS:-3}
WORK=${BENCH_WORK:-/var/tmp/containy-bench}
CRUN_HUGETLB=${BENCH_CRUN_HUGETLB:-0}
STATE_TMPFS=${BENCH_STATE_TMPFS:-1}
CHECK=${BENCH_CHECK:-0}
DEBIAN_TARBALL=$ROOT_DIR/bundle/debian.tar.gz
CONTAINY=$ROOT_DIR/target/release/containy
TAG=cb$$ # every container id, cgroup and state dir of this run starts with it: easy to find leaks
RU=$WORK/ru
MEASURE=(python3 "$BENCH/lib/measure.py" --ru "$RU")
HUGETLB_MOUNTED=0
STATE_MOUNTED=0
START=$SECONDS

say() { printf '\n== %s\n' "$*" >&2; }
note() { printf '   %s\n' "$*" >&2; }
# shellcheck source=lib/hugetlb.sh
. "$BENCH/lib/hugetlb.sh" # hugetlb_mount, hugetlb_unmount (BENCH_CRUN_HUGETLB=1)

if [ "$(id -u)" -ne 0 ]; then
    echo "bench/run.sh: needs root (it creates containers with three runtimes): sudo make bench" >&2
    exit 1
fi

# ---------------------------------------------------------------------------------------------------------
# Tools: Debian packages, installed only when missing (idempotent).
deps() {
    local want=(crun runc hyperfine busybox-static strace linux-perf valgrind gnuplot-nox time gcc libc6-dev
        python3 debootstrap docker-registry skopeo podman)
    local missing=()
    for p in "${want[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null ||
            { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
                "${missing[@]}" >/dev/null; }
    fi
}

# ---------------------------------------------------------------------------------------------------------
# Cleanup, whatever happens: containers of this run, their mounts and cgroups, the hugetlb mount.
cleanup() {
    local rc=$?
    set +e
    stop_exec_containers
    for rt in runc crun; do
        [ -d "$WORK/state/$rt" ] || continue
        for id in $($rt --root "$WORK/state/$rt" list -q 2>/dev/null | grep "^$TAG" || true); do
            $rt --root "$WORK/state/$rt" kill "$id" KILL >/dev/null 2>&1
            $rt --root "$WORK/state/$rt" delete -f "$id" >/dev/null 2>&1
        done
    done
    # Mounts left by a killed run (none expected): deepest first.
    grep -F "$WORK/" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do umount -l "$m"; done
    find /sys/fs/cgroup -mindepth 1 -maxdepth 4 -type d -name "$TAG*" 2>/dev/null | sort -r | xargs -r rmdir 2>/dev/null
    hugetlb_unmount
    state_unmount
    rm -rf "$WORK/state" "$WORK/extract"
    exit $rc
}

# ---------------------------------------------------------------------------------------------------------
# crun and the hybrid layout.
crun_probe() { crun --root "$WORK/state/crun" run --bundle "$WORK/oci" "$TAG-probe" >"$RAW/crun-probe.txt" 2>&1; }

# ---------------------------------------------------------------------------------------------------------
# Bundles and bases (built once in $WORK, reused).
busybox_rootfs() { # DIR
    local d=$1
    rm -rf "$d.tmp" && mkdir -p "$d.tmp"/{bin,etc,proc,sys,dev,tmp,root}
    cp /bin/busybox "$d.tmp/bin/busybox"
    for a in $("$d.tmp/bin/busybox" --list); do [ "$a" = busybox ] || ln -sf busybox "$d.tmp/bin/$a"; done
    printf 'root:x:0:0:root:/root:/bin/sh\n' >"$d.tmp/etc/passwd"
    printf 'root:x:0:\n' >"$d.tmp/etc/group"
    rm -rf "$d" && mv "$d.tmp" "$d"
}

# A base FACTOR times as large: the base itself plus FACTOR-1 full copies of it under /.pad (real bytes and
# real files, so anything that walks or copies the base pays FACTOR times as much).
padded() { # SRC DST FACTOR
    local src=$1 dst=$2 factor=$3 stamp
    stamp="$(du -sb "$src" | cut -f1) $factor"
    [ -f "$dst.stamp" ] && [ "$(cat "$dst.stamp")" = "$stamp" ] && return 0
    note "making $dst ($factor× $(du -sh "$src" | cut -f1))"
    rm -rf "$dst" && cp -a "$src" "$dst" && mkdir "$dst/.pad"
    for k in $(seq 1 $((factor - 1))); do cp -a "$src" "$dst/.pad/$k"; done
    echo "$stamp" >"$dst.stamp"
}

friendly_config() { # DIR ROOTFS-KEY ROOTFS-VALUE [EXTRA-PROCESS-LINE]
    mkdir -p "$1"
    cat >"$1/configy.toml" <<EOF
# bench/run.sh: /bin/true in containy's overlay mode on one base
[process]
args = ["/bin/true"]
env = ["PATH=/usr/bin:/bin"]
${4:-}
[rootfs]
$2 = "$3"
mode = "overlay"
EOF
}

setup() {
    mkdir -p "$WORK/bases" "$WORK/state" "$RAW" "$OUT/profile"
    if [ "$STATE_TMPFS" = 1 ] && ! mountpoint -q "$WORK/state"; then
        mount -t tmpfs -o size=1g,mode=0755 cbench-state "$WORK/state"
        STATE_MOUNTED=1
    fi
    mkdir -p "$WORK/state"/{containy,crun,runc}
    rm -f "$RAW"/*.tsv "$RAW"/*.json "$RAW"/*.txt
    cc -O2 -static -o "$RU" "$BENCH/lib/ru.c" 2>/dev/null || cc -O2 -o "$RU" "$BENCH/lib/ru.c"

    [ -x "$WORK/bases/busybox/bin/busybox" ] || busybox_rootfs "$WORK/bases/busybox"
    # The OCI bundle all three runtimes run: `runc spec`, args /bin/true, no terminal; its own rootfs copy.
    if [ ! -f "$WORK/oci/config.json" ]; then
        rm -rf "$WORK/oci" && mkdir -p "$WORK/oci" && cp -a "$WORK/bases/busybox" "$WORK/oci/rootfs"
        (cd "$WORK/oci" && runc spec)
        python3 - "$WORK/oci/config.json" <<'EOF'
import json, sys
path = sys.argv[1]
c = json.load(open(path))
c["process"]["args"] = ["/bin/true"]
c["process"]["terminal"] = False
json.dump(c, open(path, "w"), indent=2)
EOF
    fi
    # The same bundle running `sleep` (for exec), with the same rootfs.
    mkdir -p "$WORK/oci-sleep"
    python3 - "$WORK/oci/config.json" "$WORK/oci-sleep/config.json" "$WORK/oci/rootfs" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["args"] = ["/bin/sleep", "3600"]
c["root"]["path"] = sys.argv[3]
json.dump(c, open(sys.argv[2], "w"), indent=2)
EOF
    DEBIAN_DIR=
    [ -f "$DEBIAN_TARBALL" ] && DEBIAN_DIR=$("$CONTAINY" extract --cache "$WORK/cache" "$DEBIAN_TARBALL")
    [ "$CHECK" = 1 ] && return # the base-size section is not part of the check
    padded "$WORK/bases/busybox" "$WORK/bases/busybox-x10" 10
    friendly_config "$WORK/sizes/busybox" path "$WORK/bases/busybox"
    friendly_config "$WORK/sizes/busybox-x10" path "$WORK/bases/busybox-x10"
    if [ -n "$DEBIAN_DIR" ]; then
        padded "$DEBIAN_DIR" "$WORK/bases/debian-x10" 10
        friendly_config "$WORK/sizes/debian" path "$DEBIAN_DIR"
        friendly_config "$WORK/sizes/debian-x10" path "$WORK/bases/debian-x10"
        friendly_config "$WORK/sizes/debian-tarball" tarball "$DEBIAN_TARBALL"
    fi
}

machine() {
    {
        echo "date: $(date -u +%FT%TZ)"
        echo "host: nproc=$(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(awk '/MemTotal/{printf "%.1f GiB RAM", $2/1048576}' /proc/meminfo)"
        echo "kernel: $(uname -r) ($(. /etc/os-release && echo "$PRETTY_NAME"))"
        echo "cgroups: $(stat -f -c %T /sys/fs/cgroup) at /sys/fs/cgroup; cgroup2 controllers at /sys/fs/cgroup/unified: '$(cat /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null)'"
        echo "load before: $(uptime)"
        echo "containy: $("$CONTAINY" --version) (git $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml 2>/dev/null || echo ', with uncommitted changes in src/'))"
        echo "crun: $(crun --version | head -1)"
        echo "runc: $(runc --version | head -1)"
        echo "hyperfine: $(hyperfine --version)"
        echo "busybox: $(busybox 2>&1 | head -1)"
        echo "bases: busybox $(du -sh "$WORK/bases/busybox" | cut -f1) ($(find "$WORK/bases/busybox" | wc -l) entries); state roots on $(stat -f -c %T "$WORK/state")"
    } >"$OUT/machine.txt"
    cat "$OUT/machine.txt" >&2
}

# du and entry count of each base, for the size plot.
base_sizes() {
    {
        printf 'name\tbytes\tentries\n'
        for name in busybox busybox-x10 debian debian-x10; do
            local dir
            case $name in
            debian) dir=$DEBIAN_DIR ;;
            *) dir=$WORK/bases/$name ;;
            esac
            [ -n "$dir" ] && [ -d "$dir" ] || continue
            printf '%s\t%s\t%s\n' "$name" "$(du -sb "$dir" | cut -f1)" "$(find "$dir" | wc -l)"
        done
    } >"$RAW/base-sizes.tsv"
}

# ---------------------------------------------------------------------------------------------------------
# The sections.
CRUN_OK=0
runtimes_args() { # the NAME 'COMMAND' pairs for measure.py; WHAT = run args after the runtime
    local id=$1
    printf '%s\n' containy "$CONTAINY --root $WORK/state/containy run --bundle $WORK/oci $TAG-c-$id"
    if [ "$CRUN_OK" = 1 ]; then
        printf '%s\n' crun "crun --root $WORK/state/crun run --bundle $WORK/oci $TAG-k-$id"
    fi
    printf '%s\n' runc "runc --root $WORK/state/runc run --bundle $WORK/oci $TAG-r-$id"
}

section_run() {
    say "A. run /bin/true: $ROUNDS paired rounds (+ hyperfine -N)"
    local args=()
    mapfile -t args < <(runtimes_args '{n}')
    "${MEASURE[@]}" --rounds "$ROUNDS" --warmup 2 --out "$RAW/run.tsv" "${args[@]}"
    local hf=()
    local i
    for ((i = 0; i < ${#args[@]}; i += 2)); do
        hf+=(-n "${args[i]}" "${args[i + 1]//\{n\}/hf}")
    done
    hyperfine -N --style basic --warmup 3 --runs "$ROUNDS" --export-json "$RAW/hyperfine-run.json" "${hf[@]}" \
        >"$RAW/hyperfine-run.txt" 2>&1 || note "hyperfine failed: see $RAW/hyperfine-run.txt"
    # Back to back, a v1 runtime's cgroup.procs write finds the kernel's cgroup_threadgroup_rwsem still in
    # its slow mode from the previous run and skips an RCU grace period; a lone start does not. So the
    # same, with 100 ms of quiet before every run.
    say "A2. run /bin/true, isolated starts (100 ms apart): $ISOLATED_ROUNDS paired rounds"
    "${MEASURE[@]}" --rounds "$ISOLATED_ROUNDS" --warmup 1 --gap 0.1 --out "$RAW/run-isolated.tsv" "${args[@]}"
}

section_batch() {
    say "B. $BATCH_N containers, $BATCH_P at a time: $BATCH_ROUNDS paired rounds"
    local args=() a=()
    mapfile -t a < <(runtimes_args '@')
    local i
    for ((i = 0; i < ${#a[@]}; i += 2)); do
        local cmd=${a[i + 1]% *} # drop the id: batch.sh appends its own
        args+=("${a[i]}" "$BENCH/lib/batch.sh $BATCH_N $BATCH_P $TAG-b{n} $cmd @")
    done
    "${MEASURE[@]}" --rounds "$BATCH_ROUNDS" --warmup 1 --out "$RAW/batch.tsv" "${args[@]}"
}

section_sizes() {
    say "C. containy start latency vs base size (overlay): $SIZE_ROUNDS paired rounds"
    local args=() name
    for name in busybox busybox-x10 debian debian-x10 debian-tarball; do
        [ -f "$WORK/sizes/$name/configy.toml" ] || continue
        [ -n "$DEBIAN_DIR" ] || [[ $name != debian* ]] || continue
        args+=("$name" "$CONTAINY --root $WORK/state/containy run --cache $WORK/cache --bundle $WORK/sizes/$name $TAG-s-{n}")
    done
    [ -n "$DEBIAN_DIR" ] || note "not measured: Debian rows ($DEBIAN_TARBALL does not exist: make bundle/debian.tar.gz)"
    "${MEASURE[@]}" --rounds "$SIZE_ROUNDS" --warmup 2 --out "$RAW/sizes.tsv" "${args[@]}"
    base_sizes
}

section_extract() {
    say "D. importing the Debian tarball: containy extract and image import vs tar -xzf, $EXTRACT_ROUNDS paired rounds"
    if [ ! -f "$DEBIAN_TARBALL" ]; then
        note "not measured: $DEBIAN_TARBALL does not exist (make bundle/debian.tar.gz)"
        echo "not measured: no bundle/debian.tar.gz" >"$RAW/extract.skipped"
        return
    fi
    rm -f "$RAW/extract.skipped"
    rm -rf "$WORK/extract" && mkdir -p "$WORK/extract"
    cat "$DEBIAN_TARBALL" >/dev/null # both start from a warm page cache
    "${MEASURE[@]}" --rounds "$EXTRACT_ROUNDS" --warmup 0 --between "sync" --out "$RAW/extract.tsv" \
        "containy extract" "$CONTAINY extract --cache $WORK/extract/c{n} $DEBIAN_TARBALL" \
        "containy image import" "$CONTAINY image --store $WORK/extract/s{n} import debian $DEBIAN_TARBALL" \
        "tar -xzf" "sh -c 'mkdir $WORK/extract/t{n} && exec tar -xzf $DEBIAN_TARBALL -C $WORK/extract/t{n}'"
    rm -rf "$WORK/extract"
    sync
}

section_missing() {
    say "E. exec, seccomp, cached rebuild"
    local verbs
    verbs=$("$CONTAINY" --help | awk '/^Commands:/{on=1;next} on&&/^  [a-z]/{print $1}')
    : >"$RAW/missing.txt"
    local has_exec=0
    if grep -qx exec <<<"$verbs" && grep -qx create <<<"$verbs" && grep -qx start <<<"$verbs"; then
        has_exec=1
        echo "exec: measured (containy create + start a busybox container running sleep, then exec /bin/true)" >>"$RAW/missing.txt"
    else
        echo "exec: not measured: containy has no exec yet" >>"$RAW/missing.txt"
    fi
    if grep -qx build <<<"$verbs"; then
        echo "build: containy has a build verb now: add a fully cached rebuild here (bench/run.sh section_missing)" >>"$RAW/missing.txt"
    else
        echo "build: not measured: containy has no build yet" >>"$RAW/missing.txt"
    fi
    # exec /bin/true into a running busybox container (`sleep 3600`); runc/crun are the reference.
    local args=() rt
    if [ $has_exec = 1 ]; then
        if "$CONTAINY" --root "$WORK/state/containy" create --bundle "$WORK/oci-sleep" "$TAG-exec-containy" </dev/null >/dev/null 2>"$RAW/exec-create.txt" &&
            "$CONTAINY" --root "$WORK/state/containy" start "$TAG-exec-containy" >>"$RAW/exec-create.txt" 2>&1; then
            args+=("containy exec" "$CONTAINY --root $WORK/state/containy exec $TAG-exec-containy /bin/true")
        else
            note "containy create/start failed: $(tail -1 "$RAW/exec-create.txt")"
            sed -i 's/^exec: measured.*/exec: not measured: containy create\/start failed (see raw\/exec-create.txt)/' "$RAW/missing.txt"
        fi
    fi
    for rt in crun runc; do
        [ "$rt" = runc ] || [ "$CRUN_OK" = 1 ] || continue
        $rt --root "$WORK/state/$rt" run -d --bundle "$WORK/oci-sleep" "$TAG-exec-$rt" </dev/null >/dev/null 2>&1 ||
            { note "$rt run -d failed"; continue; }
        args+=("$rt exec" "$rt --root $WORK/state/$rt exec $TAG-exec-$rt /bin/true")
    done
    [ ${#args[@]} -gt 0 ] && "${MEASURE[@]}" --rounds "$ROUNDS" --warmup 2 --out "$RAW/exec.tsv" "${args[@]}"
    stop_exec_containers
    section_friendly
    sed 's/^/   /' "$RAW/missing.txt" >&2
}

# What friendliness costs: the OCI bundle against a configy.toml over the Debian base (busybox without the
# tarball) in overlay mode, with the default seccomp profile and the generated /etc files, and the same with
# seccomp unconfined (the seccomp row).
section_friendly() {
    local base=$WORK/bases/busybox name=busybox
    [ -n "$DEBIAN_DIR" ] && base=$DEBIAN_DIR name=Debian
    friendly_config "$WORK/friendly/default" path "$base" 'seccomp = "default"'
    friendly_config "$WORK/friendly/unconfined" path "$base" 'seccomp = "unconfined"'
    local c="$CONTAINY --root $WORK/state/containy run --cache $WORK/cache --bundle"
    if $c "$WORK/friendly/default" "$TAG-fp" >"$RAW/friendly-probe.txt" 2>&1; then
        echo "friendly path and seccomp: measured on the $name base" >>"$RAW/missing.txt"
        "${MEASURE[@]}" --rounds "$FRIENDLY_ROUNDS" --warmup 2 --out "$RAW/friendly.tsv" \
            "oci" "$CONTAINY --root $WORK/state/containy run --bundle $WORK/oci $TAG-fo-{n}" \
            "friendly" "$c $WORK/friendly/default $TAG-fd-{n}" \
            "friendly unconfined" "$c $WORK/friendly/unconfined $TAG-fu-{n}"
    else
        echo "friendly path: not measured ($(tail -1 "$RAW/friendly-probe.txt"))" >>"$RAW/missing.txt"
    fi
}

state_unmount() {
    [ "$STATE_MOUNTED" = 1 ] || return 0
    umount "$WORK/state" && STATE_MOUNTED=0
}

stop_exec_containers() {
    local rt
    for rt in runc crun; do
        [ -d "$WORK/state/$rt" ] || continue
        $rt --root "$WORK/state/$rt" kill "$TAG-exec-$rt" KILL >/dev/null 2>&1 || true
        $rt --root "$WORK/state/$rt" delete -f "$TAG-exec-$rt" >/dev/null 2>&1 || true
    done
    if [ -d "$WORK/state/containy/$TAG-exec-containy" ]; then
        "$CONTAINY" --root "$WORK/state/containy" kill "$TAG-exec-containy" KILL >/dev/null 2>&1 || true
        "$CONTAINY" --root "$WORK/state/containy" delete --force "$TAG-exec-containy" >/dev/null 2>&1 || true
    fi
}

leak_check() {
    say "leak check"
    local leaks=0
    if grep -e "$TAG" -e "$WORK/" /proc/self/mountinfo; then leaks=1; fi
    if find /sys/fs/cgroup -maxdepth 4 -name "$TAG*" | grep .; then leaks=1; fi
    if ls "$WORK/state"/*/ 2>/dev/null | grep "$TAG"; then leaks=1; fi
    if [ "$HUGETLB_USED" = 1 ] && { mountpoint -q /sys/fs/cgroup/hugetlb || [ "$(awk '$1=="hugetlb"{print $2}' /proc/cgroups)" != 0 ]; }; then
        note "hugetlb is still mounted or still a v1 hierarchy"
        leaks=1
    fi
    # The checks the issue asks for, printed as they are (other people's containers would show up too).
    note "grep containy /proc/self/mountinfo: $(grep -c containy /proc/self/mountinfo) lines"
    note "find /sys/fs/cgroup -maxdepth 3 -name '*containy*': $(find /sys/fs/cgroup -maxdepth 3 -name '*containy*' | wc -l) entries"
    if [ $leaks = 0 ]; then note "nothing of this run ($TAG*) is left"; else note "LEAKS above"; fi
    return $leaks
}

# ---------------------------------------------------------------------------------------------------------
main() {
    deps
    mkdir -p "$WORK" "$RAW"
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
        say "make release (the static release build)"
        make --no-print-directory release 2>&1 | tail -2 >&2 ||
            { [ -x "$CONTAINY" ] && note "WARNING: the build failed; benchmarking the existing $CONTAINY"; }
    fi
    [ -x "$CONTAINY" ] || { echo "no $CONTAINY" >&2; exit 1; }
    say "bundles and bases in $WORK"
    setup
    machine

    if crun_probe; then
        CRUN_OK=1
    elif grep -q 'hybrid mode' "$RAW/crun-probe.txt"; then
        if [ "$CRUN_HUGETLB" = 1 ] && hugetlb_mount && crun_probe; then
            CRUN_OK=1
            echo "crun: measured with hugetlb mounted as a v1 hierarchy (BENCH_CRUN_HUGETLB=1)" >>"$OUT/machine.txt"
        else
            note "crun: not measured (hybrid cgroups): crun refuses this layout; BENCH_CRUN_HUGETLB=1 mounts hugetlb as v1 for it"
            echo "crun: not measured (hybrid cgroups)" >>"$OUT/machine.txt"
        fi
    else
        note "crun failed: $(tail -1 "$RAW/crun-probe.txt")"
        echo "crun: not measured (crun failed: $(tail -1 "$RAW/crun-probe.txt"))" >>"$OUT/machine.txt"
    fi

    section_run
    section_batch
    if [ "$CHECK" = 1 ]; then # make bench-check: the run-path rows only, then the targets
        section_missing
        hugetlb_unmount
        state_unmount
        leak_check
        say "targets (bench/lib/check.py)"
        python3 "$BENCH/lib/check.py" "$RAW"
        return
    fi
    section_sizes
    section_missing
    if [ "${BENCH_PROFILE:-1}" = 1 ]; then
        say "F. profile of containy's run path (bench/profile.sh)"
        BENCH_WORK=$WORK CRUN_OK=$CRUN_OK TAG=$TAG "$BENCH/profile.sh" || note "profile.sh failed"
    fi
    say "G. pull of a 3-layer image from a local registry: containy, skopeo, podman (bench/pull.sh)"
    BENCH_WORK=$WORK "$BENCH/pull.sh" || note "pull.sh failed"
    say "H. the engine: docker run --rm through containy serve, dockerd and podman's service (bench/engine.sh)"
    BENCH_WORK=$WORK "$BENCH/engine.sh" || note "engine.sh failed"
    section_extract # last: its ~1 GB of writes and deletes would slow the disk for the sections after it
    hugetlb_unmount
    state_unmount
    echo "load after: $(uptime)" >>"$OUT/machine.txt"
    echo "bench time: $((SECONDS - START)) s" >>"$OUT/machine.txt"

    say "summary"
    python3 "$BENCH/lib/summarize.py" "$OUT" --history "$OUT/history.tsv" >"$OUT/summary.md"
    (cd "$OUT" && gnuplot "$BENCH/lib/plots.gp") || note "gnuplot failed"
    cat "$OUT/summary.md"
    leak_check
    say "done in $((SECONDS - START)) s: $OUT/summary.md, $OUT/*.svg (raw data: $RAW)"
}

main "$@"
