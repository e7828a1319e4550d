#!/bin/sh
# The fork-limit lesson for the busybox base: an inner shell forks sleepers until the kernel refuses
# (busybox sh gives up at the first failed fork); the outer one survives to show the counters. It reads
# them with the `read` builtin: at the limit, even the fork behind $(cat …) would be refused.
dir=/sys/fs/cgroup/pids
[ -d "$dir" ] || dir=/sys/fs/cgroup
read max < "$dir/pids.max"
echo "pids.max in this cgroup: $max"
sh -c 'i=1; while [ $i -le 100 ]; do sleep 30 & echo "child $i started"; i=$((i+1)); done'
read current < "$dir/pids.current"
echo "tasks in the cgroup now: $current"
