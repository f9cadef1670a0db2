"""Score lstm-top check --json on /work/blind-oracle (labels.csv) per format."""
import argparse, csv, json, subprocess
from collections import Counter
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor
ap = argparse.ArgumentParser()
ap.add_argument("folder", nargs="?", default="/work/blind-oracle", help="holds labels.csv and runs/")
ap.add_argument("--ext", nargs="*", default=[".csv", ".jsonl"], help="formats to score")
args = ap.parse_args()
R = Path(args.folder)
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
for ext in args.ext:
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
