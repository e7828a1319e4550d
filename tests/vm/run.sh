#!/usr/bin/env bash
# Run containy's integration tests inside a QEMU (TCG) VM whose /sys/fs/cgroup is pure cgroup v2, with
# Debian's kernel: the machines this project runs on have hybrid v1 cgroups, so v2 can only be tested here.
#
#   tests/vm/run.sh [TEST-BINARY…] [-- LIBTEST-ARGS…]
#
# TEST-BINARY names files in tests/ (default: cgroups run); LIBTEST-ARGS go to every test binary (a test
# name filter, --exact, --nocapture; --test-threads=2 unless given). Exits with the tests' status.
#
# Steps: install qemu/kernel/busybox if missing; build containy and the test binaries statically (their own
# target dir, target/vm, so the normal build stays valid); extract the uncompressed vmlinux from Debian's
# bzImage once (TCG spends seconds decompressing it at every boot otherwise) and boot it through its PVH
# note; the initramfs is a cached base (busybox, init.sh, modules) plus the binaries of this run.
#
# Environment: CONTAINY_VM_PROFILE=dev|release (dev: builds faster), CONTAINY_VM_TIMEOUT (s, default 600),
# CONTAINY_VM_MEMORY (default 2G), CONTAINY_VM_MODULES (default "overlay veth bridge"), CONTAINY_VM_TOOLS
# (host programs copied in with their libraries, if installed; default "runc setpriv useradd userdel
# newuidmap newgidmap": tests/rootless.rs makes its users in the VM too).
set -euo pipefail

cd "$(dirname "$0")/../.."
here=tests/vm
vm_dir=target/vm
profile=${CONTAINY_VM_PROFILE:-dev}
timeout_s=${CONTAINY_VM_TIMEOUT:-600}
memory=${CONTAINY_VM_MEMORY:-2G}
modules=${CONTAINY_VM_MODULES:-overlay veth bridge}
tools=${CONTAINY_VM_TOOLS:-runc setpriv useradd userdel newuidmap newgidmap}
rust_target=x86_64-unknown-linux-gnu

tests=()
libtest_args=()
while [ $# -gt 0 ]; do
    if [ "$1" = -- ]; then
        shift
        libtest_args=("$@")
        break
    fi
    tests+=("$1")
    shift
done
[ ${#tests[@]} -gt 0 ] || tests=(cgroups run)
case " ${libtest_args[*]} " in *" --test-threads"*) ;; *) libtest_args=(--test-threads=2 "${libtest_args[@]}") ;; esac
for t in "${tests[@]}"; do
    [ -f "tests/$t.rs" ] || { echo "vm: no test binary '$t' (no tests/$t.rs)" >&2; exit 2; }
done

say() { echo "vm: $*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo

# 1. What the VM needs, from Debian's packages (idempotent).
packages=(qemu-system-x86 linux-image-amd64 busybox-static cpio xz-utils)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]} (about a minute, once)"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The kernel linux-image-amd64 points at (the newest one in /boot otherwise).
kver=$(dpkg-query -W -f='${Depends}' linux-image-amd64 2>/dev/null | sed -n 's/^linux-image-\([^ ,]*\).*/\1/p')
if [ -z "$kver" ] || [ ! -e "/boot/vmlinuz-$kver" ]; then
    kver=$(ls /boot/vmlinuz-* 2>/dev/null | sed 's|^/boot/vmlinuz-||' | sort -V | tail -n 1)
fi
[ -n "$kver" ] && [ -d "/lib/modules/$kver" ] || { say "no kernel in /boot with modules in /lib/modules"; exit 1; }

mkdir -p "$vm_dir"

# 2. Static binaries. --target keeps build scripts and proc macros dynamic; debuginfo off halves the build.
t0=$(now)
build_args=(--no-run --target "$rust_target" --target-dir "$vm_dir" --message-format=json-render-diagnostics)
[ "$profile" = release ] && build_args+=(--release)
for t in "${tests[@]}"; do build_args+=(--test "$t"); done
say "building containy and ${tests[*]} statically ($profile)"
# libseccomp-sys links libseccomp dynamically unless told otherwise; in a static binary that crashes at once.
seccomp_a=$(cc -print-file-name=libseccomp.a 2>/dev/null || true)
if [ -f "$seccomp_a" ]; then
    export LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH=${seccomp_a%/*}
fi
RUSTFLAGS="-C target-feature=+crt-static" CARGO_PROFILE_DEV_DEBUG=0 CARGO_PROFILE_RELEASE_DEBUG=0 \
    cargo test "${build_args[@]}" >"$vm_dir/build.json"
build_time=$(since "$t0")

# From cargo's JSON: each integration test's executable, and containy's. The tests run containy from
# env!("CARGO_BIN_EXE_containy"), an absolute path fixed at compile time: it goes to that same path in the VM.
artifact() { # kind name is-test -> executable
    grep '"reason":"compiler-artifact"' "$vm_dir/build.json" |
        grep "\"kind\":\[\"$1\"\][^}]*\"name\":\"$2\"" | grep "\"test\":$3" |
        sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1
}
containy=$(artifact bin containy false)
[ -x "$containy" ] || { say "cargo built no containy binary"; exit 1; }
# containy hands pull/push/login/serve over to containy-engine next to it (src/handover.rs).
engine=$(dirname "$containy")/containy-engine
[ -x "$engine" ] || { say "cargo built no containy-engine next to $containy"; exit 1; }
"$containy" --version >/dev/null || { say "the static $containy does not even run here"; exit 1; }

# 3. The initramfs: a cached base (busybox, init, modules) and this run's binaries, two cpio archives
# concatenated (the kernel unpacks one after the other). Uncompressed: TCG is slow at decompressing.
t0=$(now)
cpio_of() { (cd "$1" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$2"; }

vmlinux=$vm_dir/vmlinux-$kver
if [ ! -s "$vmlinux" ]; then
    # bzImage: (setup_sects+1)*512 bytes of real-mode setup, then the protected-mode part, in which the
    # xz payload starts at payload_offset (0x248) and is payload_length (0x24c) long.
    bz=/boot/vmlinuz-$kver
    setup_sects=$($SUDO od -An -tu1 -j $((0x1f1)) -N1 "$bz" | tr -d ' ')
    read -r payload_offset payload_length < <($SUDO od -An -tu4 -j $((0x248)) -N8 "$bz")
    start=$(((setup_sects + 1) * 512 + payload_offset))
    $SUDO dd if="$bz" iflag=skip_bytes,count_bytes skip="$start" count="$payload_length" bs=1M status=none |
        xz -dc --single-stream >"$vmlinux.tmp"
    mv "$vmlinux.tmp" "$vmlinux"
fi

busybox=$(command -v busybox || echo /bin/busybox)
# Host programs the tests call (tests/oci.rs runs `runc spec`), each with the libraries ldd names.
tool_paths=()
for t in $tools; do
    p=$(command -v "$t" || true)
    [ -n "$p" ] && tool_paths+=("$p")
done
base_key=$( (echo "$kver $modules"; sha256sum "$here/init.sh" "$busybox" "${tool_paths[@]}") | sha256sum | cut -c1-16)
base=$vm_dir/base-$base_key.cpio
if [ ! -s "$base" ]; then
    stage=$vm_dir/base-stage
    rm -rf "$stage" "$vm_dir"/base-*.cpio
    mkdir -p "$stage"/{bin,dev,proc,sys,tmp,etc,root,usr/bin,sbin,vm/ko}
    cp "$busybox" "$stage/bin/busybox"
    install -m 755 "$here/init.sh" "$stage/init"
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n' >"$stage/etc/passwd"
    printf 'root:x:0:\nnobody:x:65534:\n' >"$stage/etc/group"
    for p in "${tool_paths[@]}"; do
        for f in "$p" $(ldd "$p" 2>/dev/null | grep -o '/[^ ]*' || true); do
            mkdir -p "$stage$(dirname "$f")"
            cp -L --preserve=mode "$f" "$stage$f"
        done
    done
    # Each module after its dependencies (modules.dep lists them last-loaded-first).
    : >"$stage/vm/modules"
    for m in $modules; do
        line=$(grep -E "/$m\.ko(\.[a-z]+)?:" "/lib/modules/$kver/modules.dep") || { say "no module $m"; exit 1; }
        for f in $(echo "${line#*:}" | tr ' ' '\n' | tac) "${line%%:*}"; do
            name=$(basename "$f")
            name=${name%.xz}
            name=${name%.zst}
            [ -e "$stage/vm/ko/$name" ] && continue
            case "$f" in
            *.xz) xz -dc "/lib/modules/$kver/$f" >"$stage/vm/ko/$name" ;;
            *.zst) zstd -qdc "/lib/modules/$kver/$f" >"$stage/vm/ko/$name" ;;
            *) cp "/lib/modules/$kver/$f" "$stage/vm/ko/$name" ;;
            esac
            echo "/vm/ko/$name" >>"$stage/vm/modules"
        done
    done
    cpio_of "$stage" "$base.tmp" && mv "$base.tmp" "$base"
    rm -rf "$stage"
fi

stage=$vm_dir/run-stage
rm -rf "$stage"
mkdir -p "$stage/vm/bin" "$stage$(dirname "$containy")"
cp "$containy" "$stage$containy"
cp "$engine" "$stage$engine"
# The project's own files at their host path too: tests read env!("CARGO_MANIFEST_DIR")/… (lessons.rs).
manifest_dir=$PWD
mkdir -p "$stage$manifest_dir"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -P -t "$stage$manifest_dir" 2>/dev/null || true
else
    cp -r tests cgroups_example "$stage$manifest_dir/" 2>/dev/null || true
fi
for t in "${tests[@]}"; do
    exe=$(artifact test "$t" true)
    [ -x "$exe" ] || { say "cargo built no test binary for $t"; exit 1; }
    cp "$exe" "$stage/vm/bin/$t"
done
printf '%s\n' "${tests[@]}" >"$stage/vm/tests"
printf '%s ' "${libtest_args[@]}" >"$stage/vm/args"
cpio_of "$stage" "$vm_dir/run.cpio"
cat "$base" "$vm_dir/run.cpio" >"$vm_dir/initrd.cpio"
rm -rf "$stage" "$vm_dir/run.cpio"
initrd_time=$(since "$t0")

# 4. Boot. Serial ports: ttyS0 the console (kept in a log), ttyS1 the tests' output, ttyS2 the status.
t0=$(now)
console=$vm_dir/console.log
output=$vm_dir/output.log
status_file=$vm_dir/status
: >"$console"
: >"$output"
: >"$status_file"
say "booting Linux $kver (TCG) to run ${tests[*]} ${libtest_args[*]}"
timeout --foreground -k 10 "$timeout_s" qemu-system-x86_64 \
    -nodefaults -no-user-config -display none -no-reboot \
    -accel tcg -cpu max -smp 2 -m "$memory" \
    -kernel "$vmlinux" -initrd "$vm_dir/initrd.cpio" \
    -append "console=ttyS0 quiet panic=-1 mitigations=off" \
    -serial "file:$console" -serial "file:$output" -serial "file:$status_file" &
qemu=$!
tail -n +1 -f -s 0.2 --pid=$qemu "$output" &
tailer=$!
qemu_rc=0
wait $qemu || qemu_rc=$?
wait $tailer || true
vm_time=$(since "$t0")

# 5. The tests' status, or what went wrong with the VM.
rc=$(tr -dc '0-9' <"$status_file")
if [ -z "$rc" ]; then
    [ "$qemu_rc" -eq 124 ] && say "the VM did not finish within ${timeout_s}s (CONTAINY_VM_TIMEOUT)"
    say "the VM reported no status (qemu exited $qemu_rc); its console:"
    tail -n 40 "$console" >&2
    rc=1
fi
say "static build ${build_time}s, initramfs ${initrd_time}s, boot+tests ${vm_time}s; tests exited $rc (kernel log: $console)"
exit "$rc"
