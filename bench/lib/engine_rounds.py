#!/usr/bin/env python3
"""Paired rounds of one docker CLI command through several daemons (bench/engine.sh, section H).

Each round runs the same command once per daemon, the order rotated every round (A B C, B C A, ...). Per run:
  wall_s        monotonic time from fork to wait4 of the client (what a user waits for);
  client_cpu_s  the client's user+sys CPU (wait4's rusage);
  daemon_cpu_s  the CPU of everything in the daemon's own cgroup (the daemon and what it spawned: containerd,
                shims, conmon, runc/crun, containy's monitors and runtime) between just before the run and a
                short settle after it, so work a daemon finishes after the client returned (an --rm removal,
                podman's cleanup process) counts too. The container's own cgroup is elsewhere (docker/…,
                containy/…, libpod_parent/…): a `true` costs nothing there.

usage: engine_rounds.py --rounds N [--warmup K] [--settle S] --out FILE --
           NAME SOCKET CGROUP [NAME SOCKET CGROUP ...] -- COMMAND...
CGROUP is a cgroup v1 cpuacct directory (cpuacct.usage, ns) or a cgroup v2 directory (cpu.stat usage_usec).
Prints a markdown table of medians (and ratios to the first daemon) on stdout.
"""
import argparse
import os
import statistics
import sys
import time


def cpu_ns(cgroup):
    v1 = os.path.join(cgroup, "cpuacct.usage")
    if os.path.exists(v1):
        with open(v1) as f:
            return int(f.read())
    with open(os.path.join(cgroup, "cpu.stat")) as f:
        for line in f:
            key, value = line.split()
            if key == "usage_usec":
                return int(value) * 1000
    sys.exit(f"engine_rounds.py: no CPU usage in {cgroup}")


def run_once(command, socket, log):
    env = dict(os.environ, DOCKER_HOST=f"unix://{socket}")
    start = time.monotonic()
    pid = os.posix_spawn(command[0], command, env, file_actions=[
        (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
        (os.POSIX_SPAWN_DUP2, log.fileno(), 1),
        (os.POSIX_SPAWN_DUP2, log.fileno(), 2),
    ])
    _, status, usage = os.wait4(pid, 0)
    wall = time.monotonic() - start
    return wall, usage.ru_utime + usage.ru_stime, os.waitstatus_to_exitcode(status)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, required=True)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--settle", type=float, default=0.2)
    p.add_argument("--out", required=True)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    a = p.parse_args()
    rest = a.rest[1:] if a.rest[:1] == ["--"] else a.rest
    split = rest.index("--")
    triples, command = rest[:split], rest[split + 1:]
    if len(triples) % 3 or not command:
        sys.exit(__doc__)
    daemons = [tuple(triples[i:i + 3]) for i in range(0, len(triples), 3)]
    rows = []
    with open(a.out + ".log", "w") as log:
        for r in range(-a.warmup, a.rounds):
            for k in range(len(daemons)):
                name, socket, cgroup = daemons[(r + k) % len(daemons)]
                before = cpu_ns(cgroup)
                wall, client_cpu, status = run_once(command, socket, log)
                time.sleep(a.settle)
                daemon_cpu = (cpu_ns(cgroup) - before) / 1e9
                if status != 0:
                    log.flush()
                    sys.exit(f"engine_rounds.py: {name}: {' '.join(command)} exited {status} (see {a.out}.log)")
                if r >= 0:
                    rows.append((r, name, k, wall, client_cpu, daemon_cpu))
    with open(a.out, "w") as out:
        out.write("round\tname\torder\twall_s\tclient_cpu_s\tdaemon_cpu_s\n")
        for row in rows:
            out.write("%d\t%s\t%d\t%.6f\t%.6f\t%.6f\n" % row)
    med = {}
    for name, _, _ in daemons:
        mine = [row for row in rows if row[1] == name]
        med[name] = tuple(statistics.median(row[i] for row in mine) for i in (3, 4, 5))
    first = daemons[0][0]
    print(f"| `{' '.join(os.path.basename(c) if i == 0 else c for i, c in enumerate(command))}`, "
          f"{a.rounds} paired rounds | wall (median) | client CPU | daemon CPU | wall vs {first} | "
          f"daemon CPU vs {first} |")
    print("|---|---|---|---|---|---|")
    for name, _, _ in daemons:
        wall, client, daemon = med[name]
        print(f"| {name} | {wall * 1000:.0f} ms | {client * 1000:.0f} ms | {daemon * 1000:.0f} ms | "
              f"{wall / med[first][0]:.1f}× | {daemon / max(med[first][2], 1e-9):.1f}× |")


if __name__ == "__main__":
    main()
