#!/usr/bin/env python3
"""The functions of BINARY whose code took a page fault, from `perf script --show-task-events -F comm,pid,trace`
of an
`exceptions:page_fault_user` recording (stdin), in the order they faulted; with --windows, a summary of the
64 KiB fault-around windows of the text that were mapped and what they hold.

Each faulting instruction fetch (error code bit 4) is mapped back to the binary: the load base of each process
comes from its first fetch, at the ELF entry point. A function laid out among the run path's others faults
in nothing new; one that still faults sits somewhere cold and costs a whole window, so bench/order.sh adds it.

usage: perf script ... | faults.py BINARY [--windows]
"""
import bisect
import re
import subprocess
import sys

binary = sys.argv[1]
windows = "--windows" in sys.argv[2:]
entry = int(re.search(r"Entry point address:\s+(0x[0-9a-f]+)",
                      subprocess.run(["readelf", "-h", binary], capture_output=True, text=True).stdout).group(1), 16)
text_lo = text_hi = 0
for line in subprocess.run(["readelf", "-SW", binary], capture_output=True, text=True).stdout.splitlines():
    m = re.search(r"\]\s+\.text\s+\S+\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)", line)
    if m:
        text_lo = int(m.group(1), 16)
        text_hi = text_lo + int(m.group(2), 16)
syms = []
for line in subprocess.run(["nm", "-S", "-n", "--defined-only", binary], capture_output=True, text=True).stdout.splitlines():
    p = line.split()
    if len(p) == 4 and p[2] in "tTwW":
        syms.append((int(p[0], 16), int(p[1], 16), p[3]))
starts = [s[0] for s in syms]


def symbol(offset):
    i = bisect.bisect_right(starts, offset) - 1
    if i >= 0 and syms[i][0] <= offset < syms[i][0] + max(syms[i][1], 1):
        return syms[i][2]
    return None


base = {}
order, seen, touched = [], set(), set()
for line in sys.stdin:
    # Task events (perf script --show-task-events): an exec starts a new image (base unknown until its first
    # fetch, at the entry point); a fork or clone shares its parent's.
    m = re.search(r"(\d+) PERF_RECORD_COMM exec", line)
    if m:
        base.pop(m.group(1), None)
        continue
    m = re.search(r"PERF_RECORD_FORK\((\d+):\d+\):\((\d+):\d+\)", line)
    if m:
        if m.group(2) in base:
            base[m.group(1)] = base[m.group(2)]
        continue
    m = re.search(r"(\d+)\s+address=(0x[0-9a-f]+) ip=(0x[0-9a-f]+) error_code=(0x[0-9a-f]+)", line)
    if not m:
        continue
    pid, address, ip, code = m.group(1), int(m.group(2), 16), int(m.group(3), 16), int(m.group(4), 16)
    if not code & 0x10:
        continue  # a data access, not code
    if pid not in base:
        if (ip - entry) & 0xFFF:
            continue  # not this binary's entry: another program
        base[pid] = ip - entry
    offset = address - base[pid]
    if not text_lo <= offset < text_hi:
        continue
    touched.add(offset // 65536)
    name = symbol(offset)
    if name and name not in seen:
        seen.add(name)
        order.append(name)

if windows:
    print(f"{len(touched)} windows of 64 KiB faulted in ({len(touched) * 64} KiB of a {(text_hi - text_lo) // 1024} KiB text)")
else:
    print("\n".join(order))
