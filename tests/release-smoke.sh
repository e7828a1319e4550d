#!/usr/bin/env bash
# tests/release-smoke.sh — what `cargo test` cannot reach: the release binary's own start-up. `make test` runs
# the debug build, which is linked dynamically, so ld.so has relocated everything before containy's entry point
# (src/sys/entry) runs. The release build is static-pie: its entry point runs before the binary has relocated
# itself, where a call through the GOT or a pointer read from data crashes. So: with target/release/containy,
# run a container, create one and check its init runs from the sealed view (not the host's binary), exec into
# it, and check nothing is left. The release runtime is linked against musl with Debian's libseccomp.a (built for
# glibc), so a container also runs under a seccomp profile that containy compiles with libseccomp there and then.
# Run by `make test-release` (and .ci/run) as root.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
C=$PWD/target/release/containy
[ -x "$C" ] || { echo "release-smoke: no $C (make release)" >&2; exit 1; }
work=$(mktemp -d /tmp/containy-release-smoke.XXXXXX)
state=$work/state
cleanup() {
    "$C" --root "$state" delete --force smoke-created >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "release-smoke: $*" >&2; exit 1; }

mkdir -p "$work/b/rootfs/bin" "$work/b/rootfs/proc" "$work/b/rootfs/dev" "$work/b/rootfs/sys" "$work/b/rootfs/tmp"
cp "$(command -v busybox)" "$work/b/rootfs/bin/busybox"
for applet in sh echo sleep true mkdir; do ln -s busybox "$work/b/rootfs/bin/$applet"; done
"$C" spec --bundle "$work/b"
set_args() { python3 - "$work/b/config.json" "$@" <<'PY'
import json, sys
path, args = sys.argv[1], sys.argv[2:]
config = json.load(open(path))
config["process"]["args"], config["process"]["terminal"] = args, False
config["linux"].pop("seccomp", None)
if args[0] == "/bin/mkdir":  # under a profile that fails mkdir with ENOSYS: libseccomp compiles it
    config["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]}
json.dump(config, open(path, "w"))
PY
}

set_args /bin/echo ran
out=$("$C" --root "$state" run --bundle "$work/b" smoke-run </dev/null) || fail "run failed"
[ "$out" = ran ] || fail "run printed '$out', not 'ran'"
# The compiled filter is cached (paths::seccomp_cache); this test removes the entry it added.
cache=/var/lib/containy/seccomp
before=$(ls "$cache" 2>/dev/null || true)
set_args /bin/mkdir /tmp/x
status=0
out=$("$C" --root "$state" run --bundle "$work/b" smoke-seccomp </dev/null 2>&1) || status=$?
for f in $(ls "$cache" 2>/dev/null); do grep -qxF "$f" <<<"$before" || rm -f "$cache/$f"; done
[ "$status" != 0 ] || fail "mkdir ran under a profile that denies it"
grep -q "Function not implemented" <<<"$out" || fail "mkdir under the profile printed '$out', not ENOSYS"

set_args /bin/sleep 30
"$C" --root "$state" create --bundle "$work/b" smoke-created </dev/null >/dev/null 2>&1 || fail "create failed"
pid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' "$state/smoke-created/state.json")
exe=$(readlink "/proc/$pid/exe")
[ "$exe" = /containy ] || fail "the created container's init runs from $exe, not the sealed view /containy"
"$C" --root "$state" start smoke-created
out=$("$C" --root "$state" exec smoke-created /bin/echo joined </dev/null) || fail "exec failed"
[ "$out" = joined ] || fail "exec printed '$out', not 'joined'"
"$C" --root "$state" delete --force smoke-created

leaked=$(grep -c "$work" /proc/self/mountinfo || true)
[ "$leaked" = 0 ] || fail "$leaked mounts of $work are left"
[ -z "$(ls -A "$state")" ] || fail "state left in $state: $(ls -A "$state")"
cgroups=$(find /sys/fs/cgroup -maxdepth 3 -name '*smoke-created*' -o -maxdepth 3 -name '*smoke-run*' -o -maxdepth 3 -name '*smoke-seccomp*')
[ -z "$cgroups" ] || fail "cgroups left: $cgroups"
echo "release-smoke: run, run under a compiled seccomp profile, create (from the sealed view), start, exec and delete with the release build: ok"
