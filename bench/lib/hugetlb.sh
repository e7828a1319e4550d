# bench/lib/hugetlb.sh — sourced: let crun run on a hybrid cgroup host, and undo it.
#
# crun refuses a hybrid layout ("cgroups in hybrid mode not supported") while the cgroup2 tree at
# /sys/fs/cgroup/unified has a controller — hugetlb, on these machines. Mounting hugetlb as a v1 hierarchy
# takes it away from cgroup2. That changes the host's cgroup mounts for everyone, so callers do it only when
# asked (BENCH_CRUN_HUGETLB=1), and unmount at exit. Needs `say`/`note` and sets HUGETLB_MOUNTED.
HUGETLB_MOUNTED=${HUGETLB_MOUNTED:-0}
HUGETLB_USED=0

hugetlb_mount() {
    [ -e /sys/fs/cgroup/hugetlb ] && return 1 # someone else's: leave it alone
    say "BENCH_CRUN_HUGETLB=1: mounting hugetlb as a v1 hierarchy at /sys/fs/cgroup/hugetlb for crun (undone at exit)"
    mkdir /sys/fs/cgroup/hugetlb
    mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
    HUGETLB_MOUNTED=1
    HUGETLB_USED=1
}

# Unmount, and make sure the kernel destroys the v1 hierarchy so hugetlb goes back to cgroup2: it only
# does so if the hierarchy has no (even dying) child cgroups at umount time — so wait for crun's to go, and
# if the hierarchy survived anyway (/proc/cgroups still gives it a v1 hierarchy id), mount and unmount again.
hugetlb_unmount() {
    [ "$HUGETLB_MOUNTED" = 1 ] || return 0
    local i
    for i in $(seq 1 20); do
        find /sys/fs/cgroup/hugetlb -mindepth 1 -type d 2>/dev/null | sort -r | xargs -r rmdir 2>/dev/null || true
        [ "$(awk '$1=="hugetlb"{print $3}' /proc/cgroups)" = 1 ] && break
        sleep 0.2
    done
    for i in 1 2 3 4 5; do
        umount /sys/fs/cgroup/hugetlb 2>/dev/null || true
        sleep 0.3
        [ "$(awk '$1=="hugetlb"{print $2}' /proc/cgroups)" = 0 ] && break
        mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb 2>/dev/null || true
    done
    if mountpoint -q /sys/fs/cgroup/hugetlb; then umount /sys/fs/cgroup/hugetlb || true; fi
    rmdir /sys/fs/cgroup/hugetlb 2>/dev/null || true
    HUGETLB_MOUNTED=0
    if [ "$(awk '$1=="hugetlb"{print $2}' /proc/cgroups)" = 0 ]; then
        note "hugetlb unmounted; it is back in cgroup2 ($(cat /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null))"
    else
        note "WARNING: hugetlb is still a v1 hierarchy (/proc/cgroups); it goes back to cgroup2 once its last cgroup is gone"
    fi
}
