#!/usr/bin/env python3
"""The run-path targets of BENCHMARKS.md, checked against one bench run (`make bench-check`).

Reads the raw TSVs measure.py wrote (run, run-isolated, batch, exec, friendly) and compares containy with crun
as paired ratios (the median over rounds of containy/crun, each round having run both back to back). Prints
one line per target with the figure and exits 1 when any is missed, so a change that gives the speed back
is seen at once instead of at the next full `make bench`. A target whose data is missing (crun refused the
host, a section failed) is a failure too: a check that cannot measure has not passed.

usage: check.py RAW_DIR
"""
import csv
import os
import statistics
import sys

RAW = sys.argv[1]

# (what, file, containy's name, reference name, key, how, limit)
#   how = "ratio": paired median of containy/reference must be <= limit
#   how = "delta_ms": median of containy - reference (paired, in ms) must be <= limit
TARGETS = [
    ("run /bin/true back to back: wall", "run.tsv", "containy", "crun", "wall", "ratio", 0.6),
    ("run /bin/true back to back: CPU", "run.tsv", "containy", "crun", "cpu", "ratio", 0.6),
    ("run /bin/true isolated: wall", "run-isolated.tsv", "containy", "crun", "wall", "ratio", 0.6),
    ("run /bin/true isolated: CPU", "run-isolated.tsv", "containy", "crun", "cpu", "ratio", 0.6),
    ("run /bin/true: peak RSS", "run.tsv", "containy", "crun", "rss", "ratio", 1.0),
    ("exec /bin/true: wall", "exec.tsv", "containy exec", "crun exec", "wall", "ratio", 0.6),
    ("50 containers 8 at a time: wall", "batch.tsv", "containy", "crun", "wall", "ratio", 0.6),
    ("seccomp default over unconfined", "friendly.tsv", "friendly", "friendly unconfined", "wall", "delta_ms", 0.5),
]


def load(name):
    path = os.path.join(RAW, name)
    if not os.path.exists(path):
        return None
    rows = []
    for r in csv.DictReader(open(path), delimiter="\t"):
        if r["status"] != "0":
            continue
        rows.append({
            "round": int(r["round"]),
            "name": r["name"],
            "wall": float(r["wall_s"]),
            "cpu": float(r["user_s"]) + float(r["sys_s"]),
            "rss": int(r["maxrss_kib"]) / 1024.0,
        })
    return rows


def paired(rows, a, b, key, how):
    by = {}
    for r in rows:
        by.setdefault(r["round"], {})[r["name"]] = r[key]
    if how == "ratio":
        pairs = [d[a] / d[b] for d in by.values() if a in d and b in d and d[b] > 0]
    else:
        pairs = [(d[a] - d[b]) * 1000 for d in by.values() if a in d and b in d]
    return (statistics.median(pairs), len(pairs)) if pairs else (None, 0)


def main():
    failed = 0
    print(f"{'target':<40} {'measured':>10} {'limit':>7}  rounds")
    for what, file, a, b, key, how, limit in TARGETS:
        rows = load(file)
        value, n = paired(rows, a, b, key, how) if rows else (None, 0)
        unit = "×" if how == "ratio" else " ms"
        if value is None:
            print(f"{what:<40} {'missing':>10} {limit:>6}{unit}  (no paired data for {a} and {b} in {file})")
            failed += 1
            continue
        ok = value <= limit
        failed += not ok
        print(f"{what:<40} {value:>9.3f}{unit} {limit:>6}{unit}  {n:>3}  {'ok' if ok else 'MISSED'}")
    if failed:
        print(f"bench-check: {failed} target(s) missed", file=sys.stderr)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
