"""The fork-limit lesson (the seed's proc.py): fork 10 children under pids.max = 10.

The container's cgroup allows 10 tasks in all, and this Python process is one of them, so the tenth
fork — the one that would make an eleventh task — fails with EAGAIN ("Resource temporarily unavailable"):
the kernel refuses, nothing else notices.
"""
import os
import time

children = []
for i in range(1, 11):
    try:
        pid = os.fork()
    except OSError as e:
        print(f"fork {i} failed: {e.strerror}  <- pids.max reached: this process and {i - 1} children are {i} tasks",
              flush=True)
        break
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    children.append(pid)
    print(f"child {i} started: pid {pid}", flush=True)

with open("/sys/fs/cgroup/pids/pids.current" if os.path.exists("/sys/fs/cgroup/pids") else "/sys/fs/cgroup/pids.current") as f:
    print(f"tasks in the cgroup now: {f.read().strip()}")
for pid in children:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
