#!/usr/bin/env python3
"""Split `perf trace` timelines of `containy run` into the phases of the run path, and rank them.

Each file is the output of `perf trace -o FILE -- containy run ...` (one run). The phase boundaries are
syscalls every run makes, in this order:
  start ............. first traced event (containy's execve)
  state mkdir ....... containy's first successful mkdir: the container's state dir
  clone3 ............ the container process is created with its namespaces
  Go ................ the parent's first sendmsg: the child may go on (id maps / cgroup done)
  child execve ...... the child becomes the container's program
  child exit ........ the program's exit_group
  reaped ............ the parent's wait4 that returns the child
  end ............... containy's exit_group
Prints a markdown table: median ms per phase over the runs, share of the total, and the slowest
syscalls of the median run. perf trace adds a few µs per syscall, so phases with many syscalls are
inflated a little; the order of magnitude and the ranking are what this is for.

usage: phases.py FILE...
"""
import re
import statistics
import sys

EVENT = re.compile(r"^\s*(\?|[\d.]+) \(\s*(?:([\d.]+) ms)?\s*\): (\S+)/(\d+) (.*)$")

PHASES = [
    ("start", "state", "exec containy, parse the CLI and the config, lower it to a Plan"),
    ("state", "clone", "state dir, cgroup dirs + limits, state.json, mount plan, socketpair"),
    ("clone", "clone_end", "clone3: the process and its new namespaces (net, mnt, pid, ipc, uts)"),
    ("clone_end", "go", "parent: place the child in its cgroups (cgroup.procs), id maps, send Go"),
    ("go", "execve", "child: mounts, devices, pivot_root, masks, caps, close fds, execve"),
    ("execve", "exit", "the container's program (/bin/true) from execve to exit"),
    ("exit", "reaped", "parent notices the exit (signalfd/poll) and reaps"),
    ("reaped", "end", "teardown: oom check, kill/rmdir cgroups, remove state dir, exit"),
]


def parse(path):
    events = []
    for line in open(path, errors="replace"):
        m = EVENT.match(line)
        if not m:
            continue
        t, dur, comm, pid, rest = m.groups()
        events.append((None if t == "?" else float(t), float(dur) if dur else None, comm, int(pid), rest))
    parent = events[0][3]
    marks = {"start": 0.0}
    child = None
    slow = []
    pending = {}  # pid -> text of its unfinished syscall (perf trace prints "... [continued]" later)
    for t, dur, comm, pid, rest in events:
        if t is None:
            continue
        if dur is None and rest.rstrip().endswith("..."):
            pending[pid] = rest
        if dur is not None:
            text = pending.pop(pid, rest) if "[continued]" in rest else rest
            name = text.split("(", 1)[0].strip()
            target = re.search(r"fd: \d+<([^>]*)>", text)
            slow.append((dur, f"{'parent' if pid == parent else 'child'} {name}" + (f" {target.group(1)}" if target else "")))
        if pid == parent:
            if "state" not in marks and rest.startswith("mkdir(") and re.search(r"= 0\s*$", rest):
                marks["state"] = t
            if "clone" not in marks and rest.startswith("clone3("):
                marks["clone"] = t
                m = re.search(r"= (\d+)\s*$", rest)
                if m and dur is not None:
                    child = int(m.group(1))
                    marks["clone_end"] = t + dur
            if "clone_end" in marks and "go" not in marks and rest.startswith("sendmsg("):
                marks["go"] = t
            if child and "reaped" not in marks and rest.startswith("wait4(") and re.search(rf"= {child}\b", rest):
                marks["reaped"] = t + (dur or 0)
            if child and "reaped" not in marks and "[continued]: wait4())" in rest and re.search(rf"= {child}\b", rest):
                marks["reaped"] = t + (dur or 0)
            if rest.startswith("exit_group("):
                marks["end"] = t
        elif pid == child:
            if "execve" not in marks and rest.startswith("execve("):
                marks["execve"] = t
            if rest.startswith("exit_group("):
                marks["exit"] = t
    marks["times"] = [t for t, dur, _, _, _ in events if t is not None and dur is not None]
    return marks, slow


def main():
    runs = [parse(p) for p in sys.argv[1:]]
    runs = [(m, s) for m, s in runs if all(k in m for k in ("state", "clone", "clone_end", "go", "execve", "exit", "reaped", "end"))]
    if not runs:
        print("phases.py: no complete run in the traces (did the markers change?)")
        return
    totals = [m["end"] - m["start"] for m, _ in runs]
    print(f"Median over {len(runs)} traced runs (`perf trace`; ms):\n")
    print("| # | phase | median ms | min–max | share | syscalls |")
    print("|---|---|---|---|---|---|")
    tot = statistics.median(totals)
    rows = []
    for i, (a, b, label) in enumerate(PHASES, 1):
        d = [m[b] - m[a] for m, _ in runs]
        n = [sum(1 for t in m["times"] if m[a] <= t < m[b]) for m, _ in runs]
        rows.append((statistics.median(d), i, label, min(d), max(d), statistics.median(n)))
    for d, i, label, lo, hi, n in rows:
        print(f"| {i} | {label} | {d:.2f} | {lo:.2f}–{hi:.2f} | {100 * d / tot:.0f}% | {n:.0f} |")
    print(f"| | **total (traced)** | **{tot:.2f}** | {min(totals):.2f}–{max(totals):.2f} | | |")
    print("\nRanked:", ", ".join(f"#{i} {d:.2f} ms" for d, i, *_ in sorted(rows, reverse=True)))
    order = sorted(range(len(runs)), key=lambda k: totals[k])
    mid = runs[order[len(order) // 2]]
    print("\nSlowest single syscalls of the median run:\n")
    print("| ms | syscall |")
    print("|---|---|")
    for dur, what in sorted(mid[1], reverse=True)[:10]:
        print(f"| {dur:.3f} | {what} |")
    # The same syscall across runs: how the slowest one varies.
    firsts = []
    for _, slow in runs:
        procs = [d for d, w in slow if "cgroup.procs" in w and w.startswith("parent write")]
        if procs:
            firsts.append(max(procs))
    if firsts:
        print(f"\nSlowest parent write to a cgroup.procs per run: median {statistics.median(firsts):.2f} ms, "
              f"min {min(firsts):.2f}, max {max(firsts):.2f} (n={len(firsts)})")


if __name__ == "__main__":
    main()
