"""Score lstm-top check --json on /work/blind-oracle (labels.csv) per format."""
import csv, json, subprocess, sys
from collections import Counter
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor
R = Path(sys.argv.pop(1) if len(sys.argv) > 1 and not sys.argv[1].startswith(".") else "/work/blind-oracle")
SIGNS = ["stagnating_val_loss", "oscillating_val_loss", "train_plateau", "diverging_loss", "subset_gap"]
rows = list(csv.DictReader(open(R / "labels.csv")))
def check(path):
    if not path.exists():
        return None
    p = subprocess.run(["lstm-top", "check", "--json", str(path)], capture_output=True, text=True)
    try:
        d = json.loads(p.stdout)
    except Exception:
        return {"_error": p.stderr[-200:]}
    return {s["id"]: s for s in d.get("signs", []) if s["severity"] in ("warning", "critical")}
for ext in sys.argv[1:] or [".csv", ".jsonl"]:
    with ThreadPoolExecutor(2) as ex:
        got = list(ex.map(lambda r: check(R / "runs" / (r["run"] + ext)), rows))
    print(f"== {ext}: {sum(g is not None for g in got)} runs")
    healthy = [(r, g) for r, g in zip(rows, got) if g is not None and r["healthy"] == "yes"]
    fa = [r["run"] for r, g in healthy if any(k in g for k in SIGNS + ["nonfinite_loss"])]
    fa_by = Counter(k for r, g in healthy for k in g)
    print(f"healthy {len(healthy)}, raising a warning: {len(fa)} ({dict(fa_by)}) {fa[:12]}")
    for s in SIGNS:
        tp = fp = fn = 0; fps=[]; fns=[]
        for r, g in zip(rows, got):
            if g is None or "_error" in g: continue
            lab = r[s]; hit = s in g or (s == "diverging_loss" and "nonfinite_loss" in g)
            if lab == "gray": continue
            if lab == "yes" and hit: tp += 1
            elif lab == "yes": fn += 1; fns.append(r["run"])
            elif hit: fp += 1; fps.append(r["run"])
        P = tp / (tp + fp) if tp + fp else float("nan"); Rr = tp / (tp + fn) if tp + fn else float("nan")
        F = 2 * P * Rr / (P + Rr) if tp else 0.0
        print(f"{s:22s} n+ {tp+fn:3d} TP {tp:3d} FP {fp:3d} FN {fn:3d} P {P:.2f} R {Rr:.2f} F1 {F:.2f}  FP {fps[:6]} FN {fns[:6]}")
    errs = [r["run"] for r, g in zip(rows, got) if g and "_error" in g]
    if errs: print("errors", errs[:10])
