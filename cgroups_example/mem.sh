#!/bin/sh
# The memory lesson for the busybox base: grow a shell variable by 50 MB at a time until the OOM killer
# ends it. containy reports the OOM and exits 137.
data=""
i=1
while :; do
    data="$data$(head -c 52428800 /dev/zero | tr '\0' x)"
    echo "allocated $((i * 50)) MB"
    i=$((i + 1))
done
