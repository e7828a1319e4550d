#!/usr/bin/env bash
# Installs what containy needs to build, test and make its base image, from Debian's packages.
# Idempotent: packages already present are not touched. Run as root (CI and `make` do).
#   busybox-static  the tiny rootfs the tests build, and the CONTAINY_BASE=busybox base
#   runc            `runc spec` writes the OCI bundles the tests run (and the benchmark's reference)
#   debootstrap     makes the Debian minbase tarball for `make run`
#   libseccomp-dev, pkg-config   seccomp filters (libseccomp crate)
#   gcc, libc6-dev  `cc -static` for the lessons' small C programs (docs/lessons/: the chroot escape, syscalls),
#                   and the zstd crate's bundled C library (image import of .tar.zst)
#   podman          tests/podman.rs: the engine driving containy through conmon (and runc, the reference)
#   containerd      tests/containerd.rs: its own daemon, `ctr run --runc-binary containy`
#   iproute2, nftables  tests/network.rs checks links and rules with `ip` and `nft` (containy itself uses netlink)
#   docker.io, python3-docker  tests/docker.rs: a private dockerd runs containy (`--add-runtime`), driven by the
#                   CLI and by the docker SDK for Python
set -euo pipefail

packages=(busybox-static runc debootstrap libseccomp-dev pkg-config ca-certificates gcc libc6-dev podman containerd
    iproute2 nftables docker.io python3-docker)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "install.sh: installing ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v cargo >/dev/null || { echo "install.sh: cargo not found: install Rust (https://rustup.rs)" >&2; exit 1; }
