#!/usr/bin/env python3
"""Apply LABELS.md mechanically to runs/*.oracle.json -> labels.csv (oracle + training loss only)."""
import json, glob, math, os, csv
import numpy as np

D = "/work/blind-oracle"

def finite_prefix(a):
    out = []
    for x in a:
        if x is None or not math.isfinite(x): break
        out.append(x)
    return np.array(out, float)

def stagnating(O, L):
    if len(O) < 5: return "no", None
    m = O.min(); tmin = int(O.argmin())
    Oend = float(np.median(O[-3:])); r = Oend / m - 1
    after = O[tmin + 1:]
    p = float(np.mean(after >= 1.05 * m)) if len(after) else 0.0
    Lf = L[:len(O)]
    Lfin = Lf[np.isfinite(Lf)]
    d = 1 - np.mean(Lfin[-3:]) / Lf[tmin] if math.isfinite(Lf[tmin]) and Lf[tmin] > 0 else 0.0
    noise = float(np.median(np.abs(np.diff(O[:tmin + 1])))) if tmin >= 2 else float(np.median(np.abs(np.diff(O))))
    if r >= 0.10 and p >= 0.6 and d >= 0.03 and (Oend - m) > 3 * noise:
        onset = None
        for t in range(tmin + 1, len(O)):
            if O[t] >= 1.05 * m and np.mean(O[t:] >= 1.05 * m) >= 0.8: onset = t; break
        return "yes", onset
    if r >= 0.05 and d > 0: return "gray", None
    return "no", None

def zigzag_peaks(O, h):
    """Confirmed peaks (trough_idx, peak_idx): a rise >= h from a trough, then a fall >= h."""
    peaks = []; n = len(O)
    if n < 3: return peaks
    d = 0; hi = lo = 0
    for t in range(1, n):
        if d == 0:
            if O[t] > O[hi]: hi = t
            if O[t] < O[lo]: lo = t
            if O[t] >= O[lo] * (1 + h): d = 1; hi = t; trough = lo
            elif O[t] <= O[hi] * (1 - h): d = -1; lo = t
        elif d == 1:
            if O[t] > O[hi]: hi = t
            if O[t] <= O[hi] * (1 - h): peaks.append((trough, hi)); d = -1; lo = t
        else:
            if O[t] < O[lo]: lo = t
            if O[t] >= O[lo] * (1 + h): d = 1; trough = lo; hi = t
    return peaks

def count_window(peaks, n, k):
    W = 20
    best = 0; first = None
    for s in range(0, max(1, n - W + 1)):
        c = [p for p in peaks if s <= p[1] < s + W]
        if len(c) > best: best = len(c)
        if len(c) >= k and first is None: first = c[0][0]
    return best, first

def oscillating(O):
    n = len(O)
    if n < 5: return "no", None
    p12 = zigzag_peaks(O, 0.12); b12, first = count_window(p12, n, 3)
    if b12 >= 3: return "yes", first
    p6 = zigzag_peaks(O, 0.06); b6, _ = count_window(p6, n, 3)
    if b12 >= 2 or b6 >= 3: return "gray", None
    return "no", None

def plateau(L, C, F):
    L = finite_prefix(list(L))
    if len(L) < 10: return "no", None
    gray = False
    for t in range(0, len(L) - 9):
        w = L[t:t + 10]
        if w.min() <= 0: continue
        prog = (w[0] - w[-1]) / w[0]; mm = w.max() / w.min(); lvl = w.mean()
        if mm >= 1.10: continue
        if prog < 0.03 and lvl >= F + 0.5 * (C - F): return "yes", t
        if (prog < 0.06 and lvl >= F + 0.5 * (C - F)) or (prog < 0.03 and lvl >= F + 0.3 * (C - F)): gray = True
    return ("gray" if gray else "no"), None

def diverging(Lraw, nonfin):
    n = len(Lraw); first_nf = next((t for t in range(n) if nonfin[t]), None)
    L = finite_prefix(Lraw)
    R = L / np.minimum.accumulate(L) if len(L) else np.array([])
    hit = next((t for t in range(len(R)) if R[t] >= 3), None)
    if hit is not None or first_nf is not None:
        onset = first_nf
        if hit is not None:
            last_ok = max([t for t in range(hit) if R[t] < 1.5], default=-1)
            o2 = last_ok + 1
            onset = o2 if onset is None else min(onset, o2)
        return "yes", onset
    if len(R) and R.max() >= 2: return "gray", None
    return "no", None

def subset_gap(o):
    subs = o["oracle_subsets"]
    if not subs: return "no", None, None
    names = list(subs); w = o["subset_weights"]; T = len(o["oracle_loss"])
    G = []
    for t in range(T):
        vals = {g: subs[g][t] for g in names}
        if any(v is None or not math.isfinite(v) for v in vals.values()): G.append(None); continue
        best = 0
        for g in names:
            ow = sum(w[h] for h in names if h != g)
            pooled = sum(w[h] * vals[h] for h in names if h != g) / ow
            best = max(best, vals[g] / pooled if pooled > 0 else 0)
        G.append(best)
    idx = [t for t in range(T) if (T <= 6 or t >= 3) and G[t] is not None]
    if not idx: return "no", None, None
    g13 = np.mean([G[t] >= 1.3 for t in idx]); g12 = np.mean([G[t] >= 1.2 for t in idx])
    if g13 >= 0.7:
        onset = None
        for t in range(T):
            if G[t] is not None and G[t] >= 1.3:
                rest = [G[u] >= 1.3 for u in range(t, T) if G[u] is not None]
                if np.mean(rest) >= 0.7: onset = t; break
        lab = "yes"
    elif g13 >= 0.4 or g12 >= 0.7: lab, onset = "gray", None
    else: lab, onset = "no", None
    return lab, onset, float(np.median([G[t] for t in idx]))

def main():
    runs = [json.load(open(f)) for f in sorted(glob.glob(os.path.join(D, "runs", "*.oracle.json")))]
    floor = {}
    for o in runs:
        fo = finite_prefix(o["oracle_loss"])
        if len(fo): floor[o["task_key"]] = min(floor.get(o["task_key"], 1e18), float(fo.min()))
    rows = []
    for o in runs:
        s = o["settings"]; Lraw = np.array([np.nan if x is None else x for x in o["train_loss"]], float)
        O = finite_prefix(o["oracle_loss"])
        st, on_st = stagnating(O, Lraw)
        osc, on_osc = oscillating(O)
        F = max(0.0, floor.get(o["task_key"], 0.0)); C = o["constant_loss"]
        pl, on_pl = plateau(Lraw, C, min(F, C))
        dv, on_dv = diverging(Lraw, o["train_loss_nonfinite"])
        sg, on_sg, gmed = subset_gap(o)
        notes = ["intent=" + s["intent"], "fw=" + s["framework"], "subsets=" + s["subsets"]]
        if s["subsets"] == "random":
            if sg != "no": notes.append("random-split rule gave %s (forced no)" % sg)
            sg, on_sg = "no", None
        if gmed is not None: notes.append("median_gap_ratio=%.2f" % gmed)
        if o["note"]: notes.append(o["note"])
        signs = [st, osc, pl, dv, sg]
        healthy = "no" if "yes" in signs else ("gray" if "gray" in signs else "yes")
        rows.append(dict(run=o["run"], healthy=healthy, stagnating_val_loss=st, oscillating_val_loss=osc,
                         train_plateau=pl, diverging_loss=dv, subset_gap=sg,
                         onset_stagnating=on_st, onset_oscillating=on_osc, onset_plateau=on_pl,
                         onset_diverging=on_dv, onset_subset=on_sg, family=s["family"], val_n=s["val_n"],
                         notes="; ".join(notes)))
    cols = "run,healthy,stagnating_val_loss,oscillating_val_loss,train_plateau,diverging_loss,subset_gap,onset_stagnating,onset_oscillating,onset_plateau,onset_diverging,onset_subset,family,val_n,notes".split(",")
    with open(os.path.join(D, "labels.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, cols); w.writeheader()
        for r in rows: w.writerow({k: ("" if r[k] is None else r[k]) for k in cols})
    print(len(rows), "runs labelled")

if __name__ == "__main__":
    import sys
    if len(sys.argv) > 1:  # another corpus from generate.py --root DIR
        D = sys.argv[1]
    main()
