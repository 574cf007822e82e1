"""Bar chart of our servers' ratios to C nbdkit, from bench/run's raw samples.

    python3 bench/plot.py RAW.tsv OUT.png "rs-so rs-mem c qemu"

Every bar is "times better than C nbdkit" (> 1 is better), so rates are
ours / C and seconds, RSS and CPU are C / ours.  Medians over rounds, as in
bench/out/latest.md.
"""
import statistics
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402

raw, out, servers = sys.argv[1], sys.argv[2], sys.argv[3].split()
# rs-mem-off runs W4 only (the A/B of sparse reads, in the table).
ours = [s for s in servers if s.startswith("rs-") and s != "rs-mem-off"]
if "c" not in servers or not ours:
    sys.exit("need c and at least one of ours")

vals = defaultdict(lambda: defaultdict(list))
units = {}
order = []
with open(raw) as f:
    for line in f:
        parts = line.rstrip("\n").split("\t")
        if len(parts) < 5:
            continue
        _, server, work, value, unit = parts[:5]
        try:
            v = float(value)
        except ValueError:
            continue
        if work not in units:
            order.append(work)
        units[work] = unit
        vals[work][server].append(v)

lower_better = {"s", "KiB"}
labels, bars = [], {s: [] for s in ours}
for w in order:
    c = vals[w].get("c")
    if not c or not all(vals[w].get(s) for s in ours):
        continue
    cm = statistics.median(c)
    if cm == 0:
        continue
    labels.append(w)
    for s in ours:
        m = statistics.median(vals[w][s])
        bars[s].append(cm / m if units[w] in lower_better else m / cm)

fig, ax = plt.subplots(figsize=(9, 0.45 * len(labels) + 1.5))
height = 0.8 / len(ours)
names = {"rs-so": "ours + memory .so", "rs-mem": "ours + built-in"}
for i, s in enumerate(ours):
    ys = [y + i * height for y in range(len(labels))]
    ax.barh(ys, bars[s], height=height, label=names.get(s, s))
ax.set_xscale("log", base=2)
ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x:g}×"))
ax.axvline(1.0, color="black", linewidth=1)
ax.set_yticks([y + height * (len(ours) - 1) / 2 for y in range(len(labels))])
ax.set_yticklabels(labels, fontsize=8)
ax.invert_yaxis()
ax.set_xlabel("times better than C nbdkit 1.32.5 (same .so; > 1 is better)")
ax.legend(loc="lower right", fontsize=8)
ax.set_title("nbdkit-rs vs C nbdkit, median of interleaved rounds", fontsize=10)
fig.tight_layout()
fig.savefig(out, dpi=110)
print("wrote", out)
