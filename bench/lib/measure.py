#!/usr/bin/env python3
"""Paired runner: run several commands round after round (A B C, then B C A, ...), one run each per round.

Each run goes through the small `ru` helper (ru.c), which records what /usr/bin/time records -- the
kernel's rusage of the process and of every descendant it reaped, returned by wait4(2) -- at microsecond
resolution instead of /usr/bin/time's 10 ms: wall time (monotonic clock around fork..wait4), user and system
CPU seconds, peak RSS (ru_maxrss, KiB: the largest of the process and its reaped descendants), exit status.

usage: measure.py --ru PATH --rounds N [--warmup K] [--gap S] [--between CMD] --out FILE NAME 'COMMAND' [NAME 'COMMAND' ...]
COMMAND is split like a shell line (no shell runs it); {n} becomes a unique run number (for container ids).
Output: a TSV with header  round  name  order  wall_s  user_s  sys_s  maxrss_kib  status.
A command that fails is reported on stderr with its output; --max-failures (default 3) failures of one
command stop the run with exit code 1.
"""
import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time


def run_once(ru, argv, log):
    r, w = os.pipe()
    pid = os.posix_spawn(ru, [ru] + argv, os.environ, file_actions=[
        (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
        (os.POSIX_SPAWN_DUP2, log.fileno(), 1),
        (os.POSIX_SPAWN_DUP2, log.fileno(), 2),
        (os.POSIX_SPAWN_DUP2, w, 3),
    ])
    os.close(w)
    with os.fdopen(r) as report:
        line = report.read().split()
    os.waitpid(pid, 0)
    if len(line) != 5:
        sys.exit(f"measure.py: no report from {ru} for {argv}")
    wall, user, sys_, rss, status = line
    return float(wall), float(user), float(sys_), int(rss), int(status)


def resolve(argv):
    if "/" not in argv[0]:
        found = subprocess.run(["which", argv[0]], capture_output=True, text=True).stdout.strip()
        if not found:
            sys.exit(f"measure.py: {argv[0]}: command not found")
        argv[0] = found
    return argv


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ru", required=True, help="the compiled ru helper")
    p.add_argument("--rounds", type=int, required=True)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--gap", type=float, default=0.0, help="seconds to sleep between runs")
    p.add_argument("--between", help="a command run (untimed) after every run, e.g. sync")
    p.add_argument("--max-failures", type=int, default=3)
    p.add_argument("--out", required=True)
    p.add_argument("pairs", nargs="+")
    a = p.parse_args()
    if len(a.pairs) % 2:
        sys.exit("measure.py: give NAME 'COMMAND' pairs")
    cmds = [(a.pairs[i], a.pairs[i + 1]) for i in range(0, len(a.pairs), 2)]
    counter = [0]
    failures = {name: 0 for name, _ in cmds}

    def argv_of(template):
        counter[0] += 1
        return resolve([w.replace("{n}", str(counter[0])) for w in shlex.split(template)])

    with open(a.out, "w") as out, tempfile.TemporaryFile() as log:
        out.write("round\tname\torder\twall_s\tuser_s\tsys_s\tmaxrss_kib\tstatus\n")
        for r in range(-a.warmup, a.rounds):
            k = r % len(cmds)
            order = cmds[k:] + cmds[:k]  # rotate: each command goes first equally often
            for pos, (name, template) in enumerate(order):
                log.seek(0)
                log.truncate()
                wall, user, sys_, rss, status = run_once(a.ru, argv_of(template), log)
                if status != 0:
                    failures[name] += 1
                    log.seek(0)
                    text = log.read().decode(errors="replace")[-2000:]
                    print(f"measure.py: {name} exited {status} (round {r}):\n{text}", file=sys.stderr)
                    if failures[name] >= a.max_failures:
                        sys.exit(1)
                if r >= 0:
                    out.write(f"{r}\t{name}\t{pos}\t{wall:.6f}\t{user:.6f}\t{sys_:.6f}\t{rss}\t{status}\n")
                if a.between:
                    subprocess.run(shlex.split(a.between), check=False)
                if a.gap:
                    time.sleep(a.gap)
            out.flush()


if __name__ == "__main__":
    main()
