#!/usr/bin/env bash
# Installs what containy needs to build, test and make its base image, from Debian's packages.
# Idempotent: packages already present are not touched. Run as root (CI and `make` do).
#   busybox-static  the tiny rootfs the tests build, and the CONTAINY_BASE=busybox base
#   runc            `runc spec` writes the OCI bundles the tests run (and the benchmark's reference)
#   debootstrap     makes the Debian minbase tarball for `make run`
#   libseccomp-dev, pkg-config   seccomp filters (libseccomp crate)
#   musl-tools      musl-gcc: the release build's runtime binary is linked against musl (Makefile, `release`), and
#                   the C of the library's dependencies (zstd, ring) is compiled for it too
#   gcc, libc6-dev  `cc -static` for the lessons' small C programs (docs/lessons/: the chroot escape, syscalls),
#                   and the zstd crate's bundled C library (image import of .tar.zst)
#   podman          tests/podman.rs: the engine driving containy through conmon (and runc, the reference)
#   containerd      tests/containerd.rs: its own daemon, `ctr run --runc-binary containy`
#   iproute2, nftables  tests/network.rs checks links and rules with `ip` and `nft` (containy itself uses netlink)
#   docker-registry, apache2-utils, openssl, skopeo  tests/registry.rs: private registries (htpasswd, a TLS
#                   certificate, signed tokens) and skopeo pushing an image for containy to pull
#   python3-docker  tests/engine.rs: docker-py (5.0.3) drives `containy serve`, as autograders do
#   docker-compose  tests/engine.rs: compose 1.29 (python, no daemon of its own) against `containy serve`
#   docker.io       tests/engine.rs talks to `containy serve` with the CLI unpacked below into
#                   /var/cache/containy-docker-cli; tests/docker.rs starts a private dockerd of it (never Debian's
#                   own service: no systemd here, and the tests stop theirs)
#   uidmap          newuidmap/newgidmap: a rootless user's /etc/subuid range mapped into its containers (tests/rootless.rs)
#   passt           pasta: user-mode networking and published ports for rootless containers (tests/rootless.rs)
#   python3-docker  also tests/docker.rs: the docker SDK for Python against the private dockerd
# Not Debian packages: Rust's standard library for musl (rustup) for `make release`, and cargo-fuzz (crates.io)
# for `make fuzz`, installed at the end.
set -euo pipefail

packages=(busybox-static runc debootstrap libseccomp-dev pkg-config musl-tools ca-certificates gcc libc6-dev podman containerd
    iproute2 nftables docker-registry apache2-utils openssl skopeo python3-docker docker-compose uidmap passt docker.io)
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

# The docker CLI of Debian's docker.io at a fixed path for the engine tests: download the .deb and unpack it into
# a cache directory (tests/docker.rs uses the installed package's dockerd, started privately).
docker_cli=/var/cache/containy-docker-cli
if [ ! -x "$docker_cli/x/usr/bin/docker" ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "install.sh: unpacking the docker CLI of docker.io into $docker_cli"
    $SUDO mkdir -p "$docker_cli"
    $SUDO chmod 0777 "$docker_cli"   # apt-get download runs as _apt
    (cd "$docker_cli" && $SUDO apt-get download -qq docker.io >/dev/null 2>&1 || { $SUDO apt-get update -qq && $SUDO apt-get download -qq docker.io; })
    $SUDO dpkg -x "$docker_cli"/docker.io_*.deb "$docker_cli/x"
    $SUDO chmod 0755 "$docker_cli"
fi

# Rootless networking (pasta, tests/rootless.rs) opens /dev/net/tun as the user. udev's default rule makes it
# 0666 on every Debian system; a machine without udev keeps the kernel's 0600: give it udev's mode.
if [ -c /dev/net/tun ] && [ "$(stat -c %a /dev/net/tun)" != 666 ]; then
    echo "install.sh: /dev/net/tun is mode $(stat -c %a /dev/net/tun); making it 0666 as udev does"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO chmod 0666 /dev/net/tun
fi

command -v cargo >/dev/null || { echo "install.sh: cargo not found: install Rust (https://rustup.rs)" >&2; exit 1; }

# The release runtime is built for musl (Makefile, `release`): its standard library comes from rustup.
musl_target=$(rustc -vV | sed -n 's/^host: //p' | sed 's/-gnu$/-musl/')
if ! ls "$(rustc --print target-libdir --target "$musl_target" 2>/dev/null)"/libstd-*.rlib >/dev/null 2>&1; then
    command -v rustup >/dev/null ||
        { echo "install.sh: no Rust standard library for $musl_target and no rustup to add it" >&2; exit 1; }
    echo "install.sh: adding Rust's $musl_target target (rustup, about 40 MB)"
    rustup target add "$musl_target" >/dev/null
fi

# cargo-fuzz for `make fuzz` (fuzz/: libFuzzer targets; it runs on the stable toolchain with RUSTC_BOOTSTRAP=1).
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "install.sh: installing cargo-fuzz from crates.io (cargo install, about a minute)"
    cargo install --locked cargo-fuzz --version '^0.13' >/dev/null
fi
