#!/usr/bin/env python3
"""Make every picture in pictures/ from real runs of containy (`make pictures`, as root).

- lesson-NAME.svg: the terminal output of `containy lesson NAME`, colors and all, rendered to SVG here
  (a small ANSI-to-SVG renderer below: monospace text, one <text> per line, a <tspan> per color run).
- process-model.svg: the processes, namespaces and cgroup of a container that is running while the
  script looks at it (`containy inspect --json` and /proc), drawn with Graphviz `dot`.
- overlay-stack.svg: that container's overlay: its real lowerdir, upperdir and workdir, and what is in each
  after it wrote a file.
- setup-sequence.svg: the numbered steps of `containy --explain run`, parent and child side by side.

Nothing here is drawn by hand: rerun `make pictures` and every picture shows what containy does now.
Only the Python standard library is used; `dot` comes from the graphviz package (the Makefile installs it).
"""

import argparse
import html
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LESSONS = ["process", "namespaces", "filesystem", "privileges"]

# --- ANSI to SVG ---------------------------------------------------------------------------------------

FONT_SIZE = 13
CHAR_W = 7.83  # advance of a 13px DejaVu Sans Mono glyph
LINE_H = 17
PAD = 14
TITLE_H = 28
WRAP = 118
PALETTE = {
    30: "#5c6370", 31: "#e06c75", 32: "#98c379", 33: "#e5c07b", 34: "#61afef", 35: "#c678dd", 36: "#56b6c2",
    37: "#dcdfe4", 90: "#7f848e", 91: "#e06c75", 92: "#98c379", 93: "#e5c07b", 94: "#61afef", 95: "#c678dd",
    96: "#56b6c2", 97: "#ffffff",
}
DEFAULT_FG = "#d7dae0"
BACKGROUND = "#1f2329"
SGR = re.compile(r"\x1b\[([0-9;]*)m")


def styled_runs(line, style):
    """Split one line into (text, style) runs; `style` is carried over from the previous line."""
    runs, pos = [], 0
    for m in SGR.finditer(line):
        if m.start() > pos:
            runs.append((line[pos:m.start()], dict(style)))
        for code in [int(c) for c in (m.group(1) or "0").split(";") if c]:
            if code == 0:
                style.clear()
            elif code == 1:
                style["bold"] = True
            elif code == 2:
                style["dim"] = True
            elif code == 4:
                style["underline"] = True
            elif code in (22,):
                style.pop("bold", None)
                style.pop("dim", None)
            elif code == 39:
                style.pop("fg", None)
            elif code in PALETTE:
                style["fg"] = PALETTE[code]
        if not m.group(1):
            style.clear()
        pos = m.end()
    if pos < len(line):
        runs.append((line[pos:], dict(style)))
    return runs


def wrap_runs(runs, width):
    """Wrap runs at `width` columns, as a terminal would."""
    lines, current, col = [], [], 0
    for text, style in runs:
        text = text.expandtabs(8 - col % 8 if col % 8 else 8) if "\t" in text else text
        while text:
            room = width - col
            piece, text = text[:room], text[room:]
            current.append((piece, style))
            col += len(piece)
            if col >= width and text:
                lines.append(current)
                current, col = [], 0
    lines.append(current)
    return lines


def render_terminal(text, title, out_path):
    style, rows = {}, []
    for line in text.rstrip("\n").split("\n"):
        rows.extend(wrap_runs(styled_runs(line, style), WRAP))
    cols = max([sum(len(t) for t, _ in row) for row in rows] + [60])
    width = int(PAD * 2 + cols * CHAR_W)
    height = TITLE_H + PAD * 2 + LINE_H * len(rows)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
        f'<rect width="{width}" height="{height}" rx="8" fill="{BACKGROUND}"/>',
        f'<rect width="{width}" height="{TITLE_H}" rx="8" fill="#2c313a"/>',
        f'<rect y="{TITLE_H - 8}" width="{width}" height="8" fill="#2c313a"/>',
    ]
    for i, color in enumerate(["#ff5f56", "#ffbd2e", "#27c93f"]):
        out.append(f'<circle cx="{16 + i * 18}" cy="{TITLE_H / 2}" r="5.5" fill="{color}"/>')
    out.append(
        f'<text x="{width / 2}" y="{TITLE_H / 2 + 4}" text-anchor="middle" fill="#abb2bf" '
        f'font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">{html.escape(title)}</text>'
    )
    out.append(
        f'<g font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="{FONT_SIZE}" '
        f'fill="{DEFAULT_FG}" xml:space="preserve">'
    )
    for n, row in enumerate(rows):
        y = TITLE_H + PAD + LINE_H * (n + 1) - 4
        spans = []
        for piece, st in row:
            if not piece:
                continue
            attrs = []
            if "fg" in st:
                attrs.append(f'fill="{st["fg"]}"')
            if st.get("bold"):
                attrs.append('font-weight="bold"')
            if st.get("dim"):
                attrs.append('fill-opacity="0.6"')
            if st.get("underline"):
                attrs.append('text-decoration="underline"')
            spans.append(f'<tspan {" ".join(attrs)}>{html.escape(piece)}</tspan>' if attrs else html.escape(piece))
        if spans:
            out.append(f'<text x="{PAD}" y="{y}">{"".join(spans)}</text>')
    out.append("</g></svg>")
    out_path.write_text("\n".join(out) + "\n")


# --- running containy ------------------------------------------------------------------------------------


def run_lesson(name, args):
    env = dict(os.environ, CLICOLOR_FORCE="1")
    cmd = [str(args.containy), "lesson", name]
    done = subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if done.returncode != 0:
        sys.exit(f"make_pictures: `containy lesson {name}` failed:\n{done.stdout}")
    return done.stdout


def write_bundle(directory, script, hostname):
    (directory / "configy.toml").write_text(
        f'hostname = "{hostname}"\n[process]\nargs = ["/bin/sh", "-c", {json.dumps(script)}]\n'
        f'[rootfs]\ntarball = "{REPO / "bundle" / "busybox.tar.gz"}"\n[resources]\nmemory = "64M"\npids = 32\n'
    )


class Running:
    """A container kept running while the script looks at it; killed on exit whatever happens."""

    def __init__(self, args, bundle, cid):
        self.pid_file = bundle / "pid"
        self.proc = subprocess.Popen(
            [str(args.containy), "run", "--bundle", str(bundle),
             "--pid-file", str(self.pid_file), cid],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.pid = None
        for _ in range(1000):
            if self.pid_file.exists() and self.pid_file.read_text().strip():
                self.pid = int(self.pid_file.read_text())
                break
            if self.proc.poll() is not None:
                sys.exit(f"make_pictures: the container ended: {self.proc.stdout.read()}")
            time.sleep(0.01)
        else:
            self.stop()
            sys.exit("make_pictures: the container did not start")

    def stop(self):
        if self.pid:
            try:
                os.kill(self.pid, 9)
            except ProcessLookupError:
                pass
        self.proc.wait()


def proc_status(pid, field):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return line.split(":", 1)[1].split()
    return []


def children(pid):
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if proc_status(entry.name, "PPid") == [str(pid)]:
                    kids.append(int(entry.name))
            except OSError:
                pass
    return sorted(kids)


def comm(pid):
    return Path(f"/proc/{pid}/comm").read_text().strip()


def dot(source, out_path):
    done = subprocess.run(["dot", "-Tsvg"], input=source, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"make_pictures: dot failed: {done.stderr}\n{source}")
    out_path.write_text(done.stdout)


def q(text):
    """A DOT string literal; a newline in `text` is a line break in the label."""
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def label_html(rows):
    return "<" + "".join(rows) + ">"


def esc(text):
    return html.escape(str(text))


# --- the diagrams ----------------------------------------------------------------------------------------


def ns_lines(ns, kinds, side):
    """`pid:[4026531836]  net:[4026531833]  uts:[…]` three to a line."""
    cells = [f"{k}:[{ns[k][side]}]" for k in kinds]
    return "\n".join("  ".join(cells[i:i + 3]) for i in range(0, len(cells), 3))


def process_model(args, inspection, containy_pid, pid, out_path):
    ns = {n["kind"]: n for n in inspection["namespaces"]}
    own = [k for k, n in ns.items() if not n["shared"]]
    shared = [k for k, n in ns.items() if n["shared"]]
    lines = [
        "digraph process_model {",
        '  graph [rankdir=TB, fontname="DejaVu Sans", fontsize=11, bgcolor="white", pad=0.3, nodesep=0.35];',
        '  node [fontname="DejaVu Sans", fontsize=11, shape=box, style="rounded,filled", fillcolor="#f2f4f7"];',
        '  edge [fontname="DejaVu Sans", fontsize=10];',
        "  subgraph cluster_host { label="
        + q("the host, in its own namespaces\n" + ns_lines(ns, own, "host"))
        + '; style="rounded"; color="#888888";',
        f'    you [label={q("you: sudo containy run ...")}, fillcolor="#ffffff"];',
        "    containy [label=" + q(f"containy (parent)\npid {containy_pid} on the host") + ', fillcolor="#dbe9f9"];',
        "    you -> containy;",
    ]
    cg = next((p for c, p in inspection["cgroup"]["paths"] if c in ("unified", "pids")), None)
    if cg:
        lines.append(
            "    cgroup [label=" + q("cgroup " + cg + "\nlimits: files here (pids.max, memory...)")
            + ', shape=folder, fillcolor="#fff4d6"];'
        )
    lines.append("  }")
    title = "the container: one process tree in new namespaces\n" + ns_lines(ns, own, "container")
    title += "\nshared with the host: " + ", ".join(shared)
    lines.append(
        f"  subgraph cluster_container {{ label={q(title)}; "
        'style="rounded,filled"; fillcolor="#eef8ee"; color="#4a9a4a";'
    )
    nspid = proc_status(pid, "NSpid")
    lines.append(
        "    init [label=" + q(f"{comm(pid)}\npid {nspid[0]} on the host = pid {nspid[-1]} inside")
        + ', fillcolor="#c9ecc9"];'
    )
    for kid in children(pid):
        kid_ns = proc_status(kid, "NSpid")
        lines.append(
            f"    p{kid} [label=" + q(f"{comm(kid)}\npid {kid_ns[0]} on the host = pid {kid_ns[-1]} inside") + "];"
        )
        lines.append(f"    init -> p{kid} [label=fork];")
    root = inspection["mounts"]["root"]
    lines.append(f'    rootfs [label={q("/ = " + root["fstype"] + " (after pivot_root)")}, shape=cylinder, fillcolor="#ffffff"];')
    lines.append("    init -> rootfs [style=dotted, arrowhead=none];")
    lines.append("  }")
    flags = " | ".join("CLONE_NEW" + {"mnt": "NS", "net": "NET"}.get(k, k.upper()) for k in own if k != "cgroup")
    lines.append("  containy -> init [label=" + q("clone3(" + flags + ")\nthen execve") + ", penwidth=1.6];")
    if cg:
        lines.append('  init -> cgroup [style=dashed, label="listed in cgroup.procs", dir=back];')
    lines.append("}")
    dot("\n".join(lines), out_path)


def listing(directory, limit=12):
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return ["(gone)"]
    return names[:limit] + (["..."] if len(names) > limit else [])


def overlay_stack(inspection, pid, out_path):
    layers = inspection["mounts"]["overlay"]
    upper, work, lowers = layers["upperdir"], layers["workdir"], layers["lowerdir"]
    merged_root = f"/proc/{pid}/root"
    upper_files = []
    for base, dirs, files in os.walk(upper):
        for f in files:
            upper_files.append(os.path.relpath(os.path.join(base, f), upper))
    def layer(directory):
        return "/: " + " ".join(listing(directory)) + "\n/etc: " + " ".join(listing(os.path.join(directory, "etc")))

    rows = [
        ("merged: / inside the container (a mount in its own namespace)", layer(merged_root), "#c9ecc9",
         "what the container sees: each path from the top layer that has it"),
        ("upperdir " + upper, "files: " + (" ".join("/" + f for f in sorted(upper_files)) or "none"), "#ffe7b3",
         "read-write: the container's writes land here (a changed base file is copied up first); deleted on exit"),
    ] + [
        ("lowerdir " + lower, layer(lower), "#dbe9f9", "read-only: the base image, shared by every container")
        for lower in lowers
    ]
    table = ['<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="8">']
    for title, content, color, note in rows:
        table.append(
            f'<TR><TD BGCOLOR="{color}" ALIGN="LEFT"><B>{esc(title)}</B><BR ALIGN="LEFT"/>'
            + "".join(f'<FONT FACE="DejaVu Sans Mono" POINT-SIZE="10">{esc(part)}</FONT><BR ALIGN="LEFT"/>'
                      for part in content.split("\n"))
            + f'<I>{esc(note)}</I><BR ALIGN="LEFT"/></TD></TR>'
        )
    table.append("</TABLE>")
    source = "\n".join([
        "digraph overlay {",
        '  graph [rankdir=LR, fontname="DejaVu Sans", bgcolor="white", pad=0.3];',
        '  node [fontname="DejaVu Sans", fontsize=11, shape=plaintext];',
        f"  stack [label={label_html(table)}];",
        '  work [shape=box, style="rounded,dashed", label='
        + q("workdir " + work + "\noverlayfs scratch space\n(same filesystem as upperdir)") + "];",
        f'  mount [shape=note, label={q(MOUNT_NOTE)}];',
        "  work -> stack [style=dashed, arrowhead=none];",
        "  mount -> stack;",
        "}",
    ])
    dot(source, out_path)


MOUNT_NOTE = (
    "containy, inside the container's mount namespace:\n"
    'mount("overlay", <state>/rootfs, "overlay",\n  "lowerdir=...,upperdir=...,workdir=...")\n'
    'then pivot_root(2) into it'
)

STEP = re.compile(r"^\s*(\d+)\. \[(parent|child)\] (.*?)  (.*)$")
WHY = re.compile(r"^\s{6}(.*) \((src/[^)]*)\)$")


def shorten(text, limit):
    return text if len(text) <= limit else text[: limit - 3] + "..."


def setup_sequence(text, out_path):
    steps = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = STEP.match(line)
        if not m:
            continue
        why = WHY.match(lines[i + 1]) if i + 1 < len(lines) else None
        steps.append({"n": int(m.group(1)), "side": m.group(2), "what": m.group(3), "how": m.group(4),
                      "src": why.group(2) if why else ""})
    # Consecutive steps from one source line (13 device rules, 6 cgroup.procs writes) become one box.
    grouped = []
    for s in steps:
        prev = grouped[-1] if grouped else None
        same_kind = prev and (s["src"].startswith("src/cgroups") or prev["what"].split()[0] == s["what"].split()[0])
        if prev and prev["src"] == s["src"] and prev["side"] == s["side"] and same_kind:
            grouped[-1]["last"] = s["n"]
            grouped[-1]["count"] += 1
            grouped[-1]["whats"].append(s["what"])
        else:
            grouped.append(dict(s, last=s["n"], count=1, whats=[s["what"]]))
    out = [
        "digraph setup {",
        '  graph [rankdir=TB, fontname="DejaVu Sans", fontsize=12, bgcolor="white", pad=0.3, nodesep=0.25, ranksep=0.18, newrank=true];',
        '  node [fontname="DejaVu Sans", fontsize=10, shape=box, style="rounded,filled", width=4.2];',
        '  edge [arrowsize=0.6];',
    ]
    for side, color, title in [("parent", "#dbe9f9", "containy (parent, on the host)"),
                               ("child", "#c9ecc9", "the container process (child)")]:
        out.append(f'  subgraph cluster_{side} {{ label={q(title)}; style="rounded"; color="#999999";')
        for g in grouped:
            if g["side"] != side:
                continue
            number = f'{g["n"]}' if g["count"] == 1 else f'{g["n"]}-{g["last"]}'
            if g["count"] == 1:
                what = g["what"]
            elif g["src"].startswith("src/cgroups"):
                what = f'{g["whats"][0]} ... ({g["count"]} writes)'
            else:  # "mask /proc/acpi", "mask /proc/keys" -> "mask /proc/acpi, /proc/keys"
                verb = g["whats"][0].split()[0]
                what = verb + " " + ", ".join(w[len(verb):].strip() for w in g["whats"])
            what, how = shorten(what, 72), shorten(g["how"], 72)
            out.append(
                f'    s{g["n"]} [fillcolor="{color}", label={q(f"{number}. {what}" + chr(10) + how + chr(10) + g["src"])}];'
            )
        out.append("  }")
    for a, b in zip(grouped, grouped[1:]):
        style = "" if a["side"] == b["side"] else ' [style=bold, color="#c0392b"]'
        out.append(f'  s{a["n"]} -> s{b["n"]}{style};')
    out.append("}")
    dot("\n".join(out), out_path)


# --- main -------------------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--containy", default=REPO / "target/release/containy", type=Path)
    parser.add_argument("--only", help="make only pictures whose name contains this")
    args = parser.parse_args()
    args.containy = args.containy.resolve()
    if os.geteuid() != 0:
        sys.exit("make_pictures: containers need root: run `sudo make pictures`")
    if not (REPO / "bundle" / "busybox.tar.gz").exists():
        sys.exit("make_pictures: bundle/busybox.tar.gz is missing: run `make bundle/busybox.tar.gz`")
    with tempfile.TemporaryDirectory(prefix="containy-pictures-") as scratch:
        scratch = Path(scratch)
        # Containers use containy's default state root (/run/containy), so the commands in the pictures
        # are the ones a reader types; the ids are unique to this run.
        wanted = lambda name: not args.only or args.only in name  # noqa: E731

        for name in LESSONS:
            if wanted(f"lesson-{name}"):
                text = run_lesson(name, args)
                render_terminal(text, f"sudo containy lesson {name}", HERE / f"lesson-{name}.svg")
                print(f"pictures/lesson-{name}.svg")

        bundle = scratch / "bundle"
        bundle.mkdir()
        write_bundle(bundle, "echo hello > /etc/hello; mkdir -p /root/work; echo notes > /root/work/notes; "
                     "sleep 60 & sleep 60 & wait", "pictures")
        running = Running(args, bundle, f"pictures-{os.getpid()}")
        try:
            for _ in range(500):  # until both sleepers exist and the writes are done
                if len(children(running.pid)) >= 2:
                    break
                time.sleep(0.01)
            time.sleep(0.1)
            done = subprocess.run([str(args.containy), "inspect", "--json",
                                   f"pictures-{os.getpid()}"], capture_output=True, text=True, check=True)
            inspection = json.loads(done.stdout)
            if wanted("process-model"):
                process_model(args, inspection, running.proc.pid, running.pid, HERE / "process-model.svg")
                print("pictures/process-model.svg")
            if wanted("overlay-stack"):
                overlay_stack(inspection, running.pid, HERE / "overlay-stack.svg")
                print("pictures/overlay-stack.svg")
        finally:
            running.stop()

        if wanted("setup-sequence"):
            write_bundle(bundle, "true", "pictures")
            done = subprocess.run([str(args.containy), "--explain", "run", "--bundle",
                                   str(bundle), f"pictures-{os.getpid()}-explain"],
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True)
            if done.returncode != 0:
                sys.exit(f"make_pictures: containy --explain run failed:\n{done.stderr}")
            setup_sequence(done.stderr, HERE / "setup-sequence.svg")
            print("pictures/setup-sequence.svg")


if __name__ == "__main__":
    main()
