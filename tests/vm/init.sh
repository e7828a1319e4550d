#!/bin/busybox sh
# PID 1 of the test VM (see run.sh). Stage 1 makes `/` a real mount: the initramfs root ("rootfs") can
# never be pivoted away from, so pivot_root(2) in a container would fail with EINVAL. A bind mount of it,
# moved over `/` and chrooted into, can. Stage 2 mounts the kernel filesystems, loads the modules containy
# needs, makes /sys/fs/cgroup a pure cgroup2 tree, runs the test binaries listed in /vm/tests and reports:
# their output on the second serial port, the exit status on the third, then powers off.

bb=/bin/busybox

if [ "$1" != stage2 ]; then
    $bb mount -t devtmpfs devtmpfs /dev
    exec </dev/console >/dev/console 2>&1
    $bb mkdir -p /newroot
    $bb mount --bind / /newroot
    cd /newroot || exit 1
    $bb mount --move . /
    exec $bb chroot . /init stage2
fi

$bb --install -s /bin
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TMPDIR=/tmp

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
mkdir -p /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
# /tmp stays on the root (a tmpfs too): a project checked out under /tmp has its binaries there.
chmod 1777 /tmp
ln -sf /proc/self/fd /dev/fd

status=/dev/ttyS2
out=/dev/ttyS1
stty -F $out raw -echo
stty -F $status raw -echo

fail() {
    echo "vm init: $*" >$out
    echo "vm init: $*"
    echo 125 >$status
    poweroff -f
}

for m in $(cat /vm/modules); do
    insmod "$m" || fail "insmod $m failed"
done

mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup || fail "cannot mount cgroup2"
echo "+cpu +memory +pids +io" >/sys/fs/cgroup/cgroup.subtree_control || fail "cannot enable the cgroup controllers"

ip link set lo up
hostname vm
echo "vm: Linux $(uname -r), cgroup2 at /sys/fs/cgroup, controllers enabled: $(cat /sys/fs/cgroup/cgroup.subtree_control)" >$out

args=$(cat /vm/args)
rc=0
for t in $(cat /vm/tests); do
    echo "vm: running $t $args (uptime $(cut -d' ' -f1 /proc/uptime) s)" >$out
    # shellcheck disable=SC2086 # args are libtest arguments, split on purpose
    /vm/bin/$t $args </dev/null >$out 2>&1
    r=$?
    echo "vm: $t exited $r (uptime $(cut -d' ' -f1 /proc/uptime) s)" >$out
    [ $r -eq 0 ] || rc=$r
done

echo $rc >$status
sync
poweroff -f
