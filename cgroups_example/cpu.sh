#!/bin/sh
# The cpu lesson: a busy loop under a 0.5-CPU quota. The kernel lets the cgroup run 50 ms of every
# 100 ms period and then throttles it: watch nr_throttled grow in cpu.stat (or `containy stats`).
end=$(( $(date +%s) + ${1:-3} ))
while [ "$(date +%s)" -lt "$end" ]; do :; done
cat /sys/fs/cgroup/cpu/cpu.stat 2>/dev/null || cat /sys/fs/cgroup/cpu.stat
