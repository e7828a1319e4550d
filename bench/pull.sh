#!/usr/bin/env bash
# bench/pull.sh — section G of `make bench` (and runnable alone, as root): pulling a multi-layer image from a
# local registry. `containy pull` vs `skopeo copy docker://… oci:…` and `podman pull` (overlay storage), wall
# and peak RSS per run, paired rounds (rotated order), every run into a fresh, empty store.
#
# The image: the Debian minbase of bundle/debian.tar.gz (`make bundle/debian.tar.gz`) cut into 3 layers —
# usr/lib, the rest of usr/, everything else — gzip-compressed (level 6, as docker and podman push), put in a
# private Debian `docker-registry` on 127.0.0.1 by skopeo from an OCI layout. What each tool does with it:
# containy and podman download, verify and unpack every layer into their store; skopeo downloads and
# verifies the blobs into an OCI layout without unpacking them (less work: it is the floor for the network
# part). The stores are on a private tmpfs (BENCH_PULL_TMPFS=1, the default), as bench/run.sh puts the state
# roots: on this shared machine the disk is what everyone's builds wait for (`tar -xzf` of the same Debian
# tarball took 32 s on ext4 at load 13 against 3 s on a calm one), and the comparison is of the tools.
# Knobs: BENCH_PULL_ROUNDS=5, BENCH_PULL_TMPFS=1, BENCH_WORK=/var/tmp/containy-bench.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT_DIR=$PWD
BENCH=$ROOT_DIR/bench
OUT=$BENCH/results
RAW=$OUT/raw
BASE_WORK=${BENCH_WORK:-/var/tmp/containy-bench}
WORK=$BASE_WORK/pull
ROUNDS=${BENCH_PULL_ROUNDS:-5}
CONTAINY=$ROOT_DIR/target/release/containy
DEBIAN_TARBALL=$ROOT_DIR/bundle/debian.tar.gz
RU=$BASE_WORK/ru
TMPFS=${BENCH_PULL_TMPFS:-1}
REGISTRY_PID=

note() { printf '   %s\n' "$*" >&2; }

[ "$(id -u)" -eq 0 ] || { echo "bench/pull.sh: needs root" >&2; exit 1; }
mkdir -p "$RAW" "$WORK"
rm -f "$RAW/pull.tsv" "$RAW/pull.skipped"
skip() {
    note "pull: not measured: $*"
    echo "not measured: $*" >"$RAW/pull.skipped"
    exit 0
}
[ -f "$DEBIAN_TARBALL" ] || skip "no bundle/debian.tar.gz (make bundle/debian.tar.gz)"
for tool in docker-registry skopeo podman; do
    command -v "$tool" >/dev/null || skip "$tool is not installed (install.sh installs it)"
done
[ -x "$CONTAINY" ] || skip "no $CONTAINY (cargo build --release)"
[ -x "$RU" ] || { mkdir -p "$BASE_WORK" && cc -O2 -o "$RU" "$BENCH/lib/ru.c"; }

unmount_dst() { # podman's overlay driver may leave mounts under its store
    grep -o " $WORK/dst/[^ ]*" /proc/self/mountinfo 2>/dev/null | sort -r | xargs -r umount -l 2>/dev/null || true
}
cleanup() {
    [ -z "$REGISTRY_PID" ] || { kill "$REGISTRY_PID" 2>/dev/null; wait "$REGISTRY_PID" 2>/dev/null || true; }
    unmount_dst
    if [ "$TMPFS" = 1 ] && mountpoint -q "$WORK/dst"; then umount "$WORK/dst"; fi
    rm -rf "$WORK/dst" "$WORK/registry"
}
trap cleanup EXIT

# The layers and the OCI layout, made once (kept in $WORK/layout between runs).
if [ ! -f "$WORK/layout/index.json" ]; then
    note "pull: cutting $DEBIAN_TARBALL into 3 layers"
    rm -rf "$WORK/rootfs" "$WORK/layout" && mkdir -p "$WORK/rootfs"
    tar -xzf "$DEBIAN_TARBALL" -C "$WORK/rootfs"
    tar -C "$WORK/rootfs" -cf "$WORK/l1.tar" usr/lib
    tar -C "$WORK/rootfs" -cf "$WORK/l2.tar" --exclude=usr/lib usr
    tar -C "$WORK/rootfs" -cf "$WORK/l3.tar" --exclude=./usr .
    python3 - "$WORK" <<'EOF'
import gzip, hashlib, json, os, sys
work = sys.argv[1]
layout = os.path.join(work, "layout")
os.makedirs(os.path.join(layout, "blobs/sha256"))
def put(data):
    d = hashlib.sha256(data).hexdigest()
    open(os.path.join(layout, "blobs/sha256", d), "wb").write(data)
    return "sha256:" + d
layers, diff_ids = [], []
for n in (1, 2, 3):
    tar = open(os.path.join(work, f"l{n}.tar"), "rb").read()
    diff_ids.append("sha256:" + hashlib.sha256(tar).hexdigest())
    blob = gzip.compress(tar, compresslevel=6, mtime=0)
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": put(blob), "size": len(blob)})
config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/bash"]},
                     "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(config),
                                  "size": len(config)}, "layers": layers}).encode()
index = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                            "digest": put(manifest), "size": len(manifest)}]}
json.dump(index, open(os.path.join(layout, "index.json"), "w"))
open(os.path.join(layout, "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
print("   pull: layers (compressed MiB): " + ", ".join(f"{l['size'] / 2**20:.1f}" for l in layers), file=sys.stderr)
EOF
    rm -rf "$WORK/rootfs" "$WORK"/l?.tar
fi

# A private registry with the image.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$WORK/registry"
printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
    "$WORK/registry/data" "$PORT" >"$WORK/registry/config.yml"
docker-registry serve "$WORK/registry/config.yml" >"$WORK/registry/log" 2>&1 &
REGISTRY_PID=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.05; done
printf 'unqualified-search-registries = []\n' >"$WORK/registries.conf"
export CONTAINERS_REGISTRIES_CONF=$WORK/registries.conf
REF=127.0.0.1:$PORT/bench/debian:3layers
skopeo copy --quiet --dest-tls-verify=false "oci:$WORK/layout" "docker://$REF" >&2

note "pull: $ROUNDS paired rounds of $REF"
rm -rf "$WORK/dst" && mkdir "$WORK/dst"
[ "$TMPFS" != 1 ] || mount -t tmpfs -o size=4g,mode=0700 cbench-pull "$WORK/dst"
python3 "$BENCH/lib/measure.py" --ru "$RU" --rounds "$ROUNDS" --warmup 1 --out "$RAW/pull.tsv" \
    --between "sh -c 'grep -o \" $WORK/dst/[^ ]*\" /proc/self/mountinfo | sort -r | xargs -r umount -l; rm -rf $WORK/dst/*; sync'" \
    "containy pull" "$CONTAINY pull --tls-verify=false --quiet --store $WORK/dst/c{n} $REF" \
    "skopeo copy" "skopeo copy --quiet --src-tls-verify=false docker://$REF oci:$WORK/dst/s{n}" \
    "podman pull" "podman --root $WORK/dst/p{n}/root --runroot $WORK/dst/p{n}/run --storage-driver overlay pull --quiet --tls-verify=false $REF"
