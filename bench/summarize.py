#!/usr/bin/env python3
"""Turn bench/run's raw samples into one markdown table.

usage: summarize.py RAW.tsv OUT.md ROUNDS SECONDS "SERVERS" [COMMAND]
COMMAND, the bench/run invocation with its knobs, is printed in the header.
Raw columns: round server workload value unit cpu_seconds ops_or_bytes
"""
import os
import re
import platform
import statistics
import subprocess
import sys
from collections import OrderedDict, defaultdict

raw, out, rounds, secs, servers = sys.argv[1:6]
command = sys.argv[6] if len(sys.argv) > 6 else None
servers = servers.split()
NAMES = {
    "rs-so": "ours + memory .so",
    "rs-mem": "ours + built-in memory",
    "rs-mem-off": "ours + built-in memory, --sparse-reads=off",
    "c": "C nbdkit 1.32.5 + .so",
    "c2": "C nbdkit again (A/A)",
    "qemu": "qemu-nbd (tmpfs file)",
}

samples = OrderedDict()          # workload -> server -> list of (value, cpu_per)
units = {}
for line in open(raw):
    r, s, w, v, unit, cpu, ops = line.rstrip("\n").split("\t")
    v, cpu, ops = float(v), float(cpu), float(ops)
    units[w] = unit
    if unit in ("IOPS", "conn/s"):
        cpu_per = cpu / ops * 1e6 if ops else None          # µs per request
    elif unit in ("MiB/s", "s"):
        cpu_per = cpu / (ops / 2**30) if ops else None     # s per GiB
    else:
        cpu_per = None
    samples.setdefault(w, defaultdict(list))[s].append((v, cpu_per))


def fmt(x):
    if x is None:
        return "–"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.0f}"
    if abs(x) >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def cell(vals):
    if not vals:
        return "–"
    med = statistics.median(vals)
    if len(vals) == 1:
        return fmt(med)
    return f"{fmt(med)} ({fmt(min(vals))}–{fmt(max(vals))})"


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except Exception:
        return "?"


lines = []
lines.append("# nbdkit benchmark: ours vs C nbdkit 1.32.5 vs qemu-nbd\n")
cpu_model = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
lines.append(f"- Machine: {os.cpu_count()} CPUs, {cpu_model}, kernel {platform.release()}, "
             f"{round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30)} GiB RAM")
lines.append(f"- Peers and clients: {sh('/usr/bin/nbdkit --version')}; {sh('qemu-nbd --version | head -1')}; "
             f"{sh('nbdcopy --version | head -1')}; {sh('fio --version')}")
if command:
    lines.append(f"- Command (after `make build`): `{command}`")
nsamp = max((len(v) for per in samples.values() for v in per.values()), default=0)
lines.append(f"- {rounds} interleaved rounds per run, {secs} s per timed point; up to {nsamp} samples "
             "per cell (several runs may feed one table); figures are median (min–max)")
lines.append("- Placement: `cross-CPU` rows pin the server to one CPU and the client to the other "
             "(`taskset`), `same CPU` rows pin both to the server's CPU.  Patterns at QD16: `refill` "
             "writes as many new requests as each read of replies completed; `batch` sends 16, waits "
             "for all 16 replies, sends 16 more.")
lines.append("- A/A = the second C nbdkit (`c2`) ÷ the first, same round, same everything: how far a "
             "ratio moves by noise alone in this run.  A ratio of ours ÷ C is a difference only "
             "beyond that band.")
lines.append("- `rs-mem-off` is the built-in memory plugin with `--sparse-reads=off` (every read sent as "
             "data, as C nbdkit does), run for W4 only: beside `rs-mem` (the default, `--sparse-reads=exact`) "
             "it is the A/B of sparse reads.")
lines.append("- All on Unix sockets.  Lean-client and fio points negotiate structured replies, as libnbd does.")
lines.append("- CPU/op is server CPU (utime+stime from /proc/PID/stat, 10 ms ticks): µs per request "
             "or handshake, s per GiB for copies.  Ratio = ours ÷ C nbdkit on the median.")
lines.append("- qemu-nbd serves a raw file on /dev/shm (`-f raw -x '' -t -e 8 --cache=writeback --aio=threads`; "
             "tmpfs has no O_DIRECT so `--cache=none` is impossible); its data lives in the page cache, "
             "so its RSS is not comparable.  For W4 that file is sparse-random's disk (C nbdkit's, same seed) "
             "copied by nbdcopy, zeroes left as holes.")
lines.append("")

hdr = ["workload", "unit"]
for s in servers:
    hdr.append(NAMES.get(s, s))
ours = [s for s in servers if s.startswith("rs-")]
have_c = "c" in servers
have_aa = have_c and "c2" in servers
if have_c:
    for s in ours:
        hdr.append(f"ratio {s}/C")
if have_aa:
    hdr.append("A/A c2/c")
# The A/B of sparse reads (W4 rows): the built-in with them (the default)
# over the built-in without.
have_ab = "rs-mem" in servers and "rs-mem-off" in servers
if have_ab:
    hdr.append("sparse reads A/B rs-mem/rs-mem-off")
for s in servers:
    hdr.append(f"CPU/op {s}")
lines.append("| " + " | ".join(hdr) + " |")
lines.append("|" + "---|" * len(hdr))

for w, per in samples.items():
    unit = units[w]
    row = [w, "MiB" if unit == "KiB" else unit + (" (lower better)" if unit == "s" else "")]
    scale = 1 / 1024 if unit == "KiB" else 1
    meds = {}
    for s in servers:
        vals = [v * scale for v, _ in per.get(s, [])]
        row.append(cell(vals))
        meds[s] = statistics.median(vals) if vals else None
    if have_c:
        for s in ours:
            if meds.get(s) and meds.get("c"):
                row.append(f"{meds[s] / meds['c']:.2f}×")
            else:
                row.append("–")
    if have_aa:
        if meds.get("c2") and meds.get("c"):
            row.append(f"{meds['c2'] / meds['c']:.2f}×")
        else:
            row.append("–")
    if have_ab:
        if meds.get("rs-mem") and meds.get("rs-mem-off"):
            row.append(f"{meds['rs-mem'] / meds['rs-mem-off']:.2f}×")
        else:
            row.append("–")
    for s in servers:
        cp = [c for _, c in per.get(s, []) if c is not None]
        row.append(fmt(statistics.median(cp)) if cp else "–")
    lines.append("| " + " | ".join(row) + " |")

lines.append("")
lines.append("Higher is better for IOPS, MiB/s and handshakes; lower is better for seconds, MiB (RSS) and CPU/op.")

# bench/copy-floor.c, once a round with W6: the 64 KiB block read and
# 4 KiB copy that cow and cache make per 4 KiB read, alone.
floor = []
if os.path.exists(raw + ".floor"):
    for line in open(raw + ".floor"):
        m = re.search(r": ([0-9.]+) us each", line)
        if m:
            floor.append(float(m.group(1)))
if floor:
    lines.append("")
    lines.append(f"W6 floor (`bench/copy-floor.c`, on the server's CPU, median of {len(floor)}): "
                 f"the 64 KiB block read + 4 KiB copy that `cow` and `cache` make per 4 KiB read "
                 f"cost {statistics.median(floor):.2f} µs alone "
                 f"({min(floor):.2f}–{max(floor):.2f}); a server's CPU/op on those rows is this "
                 "plus its own cost per request.")

text = "\n".join(lines) + "\n"
with open(out, "w") as f:
    f.write(text)
