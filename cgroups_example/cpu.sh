#!/bin/sh
# The cpu lesson: a busy loop under a 0.5-CPU quota. The kernel lets the cgroup run 50 ms of every
# 100 ms period and then throttles it: watch nr_throttled grow in cpu.stat (or `containy stats`).
if [ -r /sys/fs/cgroup/cpu.max ]; then
    read quota period < /sys/fs/cgroup/cpu.max
    file=cpu.max
else
    read quota < /sys/fs/cgroup/cpu/cpu.cfs_quota_us
    read period < /sys/fs/cgroup/cpu/cpu.cfs_period_us
    file="cpu.cfs_quota_us and cpu.cfs_period_us"
fi
echo "cpu limit in this cgroup ($file): $quota us of every $period us, $((quota * 100 / period))% of one CPU"
echo "busy for ${1:-3} s ..."
end=$(( $(date +%s) + ${1:-3} ))
while [ "$(date +%s)" -lt "$end" ]; do :; done
cat /sys/fs/cgroup/cpu/cpu.stat 2>/dev/null || cat /sys/fs/cgroup/cpu.stat
