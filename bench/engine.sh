#!/usr/bin/env bash
# bench/engine.sh — section H of `make bench` (and runnable alone, as root): the engine. The same docker CLI
# (Debian's 20.10, unpacked by install.sh) runs `docker run --rm --network none localhost/busybox /bin/true`
# through three daemons, paired rounds (order rotated every round): `containy serve` (release build),
# Debian's dockerd (containerd + runc, overlay2) and `podman system service` (conmon + runc; crun refuses
# this hybrid cgroup host unless hugetlb is remounted, see bench/run.sh — BENCH_ENGINE_PODMAN_RUNTIME=crun
# to try). Per run: the client's wall time and CPU, and the CPU of each daemon's own cgroup (the daemon and
# all it spawns; bench/lib/engine_rounds.py says how). `--network none` everywhere: the private dockerd has
# no bridge (`--bridge=none`), and networking is not what is compared.
#
# Every daemon is private: its sockets, data and state in $WORK/engine (a temp dir), started in a cgroup of
# its own, stopped (TERM, then KILL) and its leftovers unmounted when the script ends, also on failure.
# dockerd runs with --iptables=false --ip-forward=false --bridge=none: it changes nothing on the host.
# Knobs: BENCH_ENGINE_ROUNDS=20, BENCH_WORK=/var/tmp/containy-bench, BENCH_ENGINE_PODMAN_RUNTIME=runc,
# DOCKER=/var/cache/containy-docker-cli/x/usr/bin/docker.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT_DIR=$PWD
BENCH=$ROOT_DIR/bench
RAW=$BENCH/results/raw
ROUNDS=${BENCH_ENGINE_ROUNDS:-20}
BASE_WORK=${BENCH_WORK:-/var/tmp/containy-bench}
CONTAINY=${CONTAINY:-$ROOT_DIR/target/release/containy}
DOCKER=${DOCKER:-/var/cache/containy-docker-cli/x/usr/bin/docker}
PODMAN_RUNTIME=${BENCH_ENGINE_PODMAN_RUNTIME:-runc}
IMAGE=localhost/busybox:latest

note() { printf '   %s\n' "$*" >&2; }

[ "$(id -u)" -eq 0 ] || { echo "bench/engine.sh: needs root" >&2; exit 1; }
mkdir -p "$RAW" "$BASE_WORK"
rm -f "$RAW/engine.tsv" "$RAW/engine.md" "$RAW/engine.skipped"
skip() {
    note "engine: not measured: $*"
    echo "not measured: $*" >"$RAW/engine.skipped"
    exit 0
}
[ -x "$DOCKER" ] || skip "no docker CLI at $DOCKER (install.sh unpacks it)"
[ -x "$CONTAINY" ] || skip "no $CONTAINY (cargo build --release)"
command -v dockerd >/dev/null || skip "dockerd is not installed (docker.io)"

WORK=$(mktemp -d "$BASE_WORK/engine.XXXXXX")
if [ -d /sys/fs/cgroup/cpuacct ]; then CG=/sys/fs/cgroup/cpuacct/${WORK##*/}; else CG=/sys/fs/cgroup/${WORK##*/}; fi
declare -A PIDS=()
# The cgroup parents the engines make in every hierarchy with the cgroupfs driver (dockerd's docker/, podman's
# libpod_parent/ with conmon/ below): removed at exit when empty, unless they were there before this run.
engine_parents() { find /sys/fs/cgroup -mindepth 1 -maxdepth 3 -type d \( -path '*/docker' -o -path '*/libpod_parent' -o -path '*/libpod_parent/*' \) 2>/dev/null | sort; }
PARENTS_BEFORE=$(engine_parents)

stop_daemon() { # NAME
    local pid=${PIDS[$1]:-}
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    # What it spawned and left (containerd, shims, conmon, monitors) is still in its cgroup.
    if [ -f "$CG/$1/cgroup.procs" ]; then
        xargs -r kill -KILL <"$CG/$1/cgroup.procs" 2>/dev/null || true
    fi
    unset "PIDS[$1]"
}
cleanup() {
    for name in "${!PIDS[@]}"; do stop_daemon "$name"; done
    grep -o " $WORK/[^ ]*" /proc/self/mountinfo 2>/dev/null | sort -r | xargs -r umount -l 2>/dev/null || true
    for name in containy dockerd podman; do
        [ -d "$CG/$name" ] || continue
        for _ in $(seq 50); do rmdir "$CG/$name" 2>/dev/null && break; sleep 0.1; done
    done
    rmdir "$CG" 2>/dev/null || true
    engine_parents | grep -vxF -e "$PARENTS_BEFORE" -e '' | sort -r | xargs -r rmdir 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

start_daemon() { # NAME SOCKET COMMAND...
    local name=$1 socket=$2
    shift 2
    mkdir -p "$CG/$name"
    sh -c 'echo $$ >"$1/cgroup.procs"; shift; exec "$@"' sh "$CG/$name" "$@" >"$WORK/$name.log" 2>&1 &
    PIDS[$name]=$!
    for _ in $(seq 300); do
        [ -S "$socket" ] && return 0
        kill -0 "${PIDS[$name]}" 2>/dev/null || break
        sleep 0.1
    done
    note "$name did not listen on $socket: $(tail -5 "$WORK/$name.log")"
    return 1
}
client() { DOCKER_HOST=unix://$1 "$DOCKER" "${@:2}"; }

# The image: a busybox root filesystem, the same tarball for the three.
mkdir -p "$WORK/rootfs/bin" "$WORK/rootfs/etc" "$WORK/rootfs/tmp"
cp "$(command -v busybox)" "$WORK/rootfs/bin/busybox"
for applet in $("$WORK/rootfs/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$WORK/rootfs/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$WORK/rootfs/etc/passwd"
tar -C "$WORK/rootfs" -cf "$WORK/busybox.tar" .

TRIPLES=()

# containy serve
CY=$WORK/cy
"$CONTAINY" image import --store "$CY/store" "$IMAGE" "$WORK/busybox.tar" >/dev/null
if start_daemon containy "$CY/d.sock" "$CONTAINY" --root "$CY/state" serve --socket "$CY/d.sock" \
    --store "$CY/store" --cache "$CY/cache" --default-network none; then
    TRIPLES+=(containy "$CY/d.sock" "$CG/containy")
else
    skip "containy serve did not start"
fi

# Debian's dockerd, private: its own containerd (started by itself under --exec-root), no bridge, no iptables.
DK=$WORK/dk
mkdir -p "$DK"
if start_daemon dockerd "$DK/docker.sock" dockerd --host "unix://$DK/docker.sock" --data-root "$DK/data" \
    --exec-root "$DK/exec" --pidfile "$DK/pid" --iptables=false --ip-forward=false --ip-masq=false \
    --bridge=none --storage-driver overlay2 &&
    client "$DK/docker.sock" import "$WORK/busybox.tar" "$IMAGE" >/dev/null; then
    TRIPLES+=("dockerd+runc" "$DK/docker.sock" "$CG/dockerd")
else
    note "dockerd: not measured (see above)"
fi

# podman system service, private storage (overlay) and configuration.
if command -v podman >/dev/null; then
    PM=$WORK/pm
    mkdir -p "$PM"
    cat >"$PM/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "$PODMAN_RUNTIME"
EOF
    podman_cmd() {
        CONTAINERS_CONF=$PM/containers.conf podman --root "$PM/storage" --runroot "$PM/run" \
            --storage-driver overlay "$@"
    }
    if podman_cmd import "$WORK/busybox.tar" "$IMAGE" >/dev/null 2>"$WORK/podman-import.log" &&
        start_daemon podman "$PM/podman.sock" env CONTAINERS_CONF="$PM/containers.conf" podman \
            --root "$PM/storage" --runroot "$PM/run" --storage-driver overlay \
            system service --time=0 "unix://$PM/podman.sock"; then
        TRIPLES+=("podman+$PODMAN_RUNTIME" "$PM/podman.sock" "$CG/podman")
    else
        note "podman: not measured: $(tail -3 "$WORK/podman-import.log" "$WORK/podman.log" 2>/dev/null)"
    fi
fi

# One probe each: a daemon that cannot run the command is left out, with its error.
KEPT=()
for ((i = 0; i < ${#TRIPLES[@]}; i += 3)); do
    if out=$(client "${TRIPLES[i + 1]}" run --rm --network none "$IMAGE" /bin/true 2>&1); then
        KEPT+=("${TRIPLES[@]:i:3}")
    else
        note "${TRIPLES[i]}: not measured: $out"
    fi
done
[ ${#KEPT[@]} -gt 0 ] || skip "no daemon could run the container"

note "engine: $ROUNDS paired rounds of docker run --rm through $((${#KEPT[@]} / 3)) daemons"
python3 "$BENCH/lib/engine_rounds.py" --rounds "$ROUNDS" --out "$RAW/engine.tsv" -- "${KEPT[@]}" -- \
    "$DOCKER" run --rm --network none "$IMAGE" /bin/true | tee "$RAW/engine.md"
{
    echo
    echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPUs; $(date -u +%FT%TZ)."
    echo "Versions: $("$CONTAINY" --version), $(dockerd --version), $(podman --version 2>/dev/null), $("$PODMAN_RUNTIME" --version 2>/dev/null | head -1)."
} | tee -a "$RAW/engine.md"
