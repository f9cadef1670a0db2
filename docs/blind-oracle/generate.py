#!/usr/bin/env python3
"""Generate a corpus of real small trainings with oracle curves.
Usage: python generate.py --shard I --nshards K [--deadline UNIX] [--n 200] [--root DIR] [--seed S]
Re-runnable: runs whose .oracle.json exists are skipped."""
import os, sys, json, time, math, glob, argparse
os.environ.setdefault("KERAS_BACKEND", "torch")
import numpy as np
import torch, torch.nn as nn, torch.nn.functional as Fn

OUT = "/work/blind-oracle/runs"
ORACLE_N = 10000
RUN_CAP_S = 30.0

# ----------------------------------------------------------------- tasks
class Task:
    kind = "ce"          # or "mse"
    comps = []           # list of (name, weight)
    groups = {}          # shift-subset name -> list of comp indices
    def sample_group(self, idx, n, rng):
        w = np.array([self.comps[i][1] for i in idx], float); w /= w.sum()
        cnt = rng.multinomial(n, w)
        Xs, ys = [], []
        for i, c in zip(idx, cnt):
            if c:
                X, y = self.sample_comp(i, c, rng); Xs.append(X); ys.append(y)
        X = np.concatenate(Xs); y = np.concatenate(ys)
        p = rng.permutation(len(X)); return X[p], y[p]
    def sample(self, n, rng):
        return self.sample_group(list(range(len(self.comps))), n, rng)
    def noisy_labels(self, y, rng):
        if self.eps > 0:
            m = rng.random(len(y)) < self.eps
            y = y.copy(); y[m] = rng.integers(0, self.n_out, m.sum())
        return y

REG_V = [dict(d=1, sigma=0.1, ys=1.0), dict(d=2, sigma=0.3, ys=1.0),
         dict(d=4, sigma=0.5, ys=1.0), dict(d=8, sigma=0.2, ys=6.0)]
class Reg(Task):
    kind = "mse"; arch_ok = ["mlp"]
    def __init__(self, v):
        p = REG_V[v]; self.__dict__.update(p); r = np.random.default_rng(100 + v)
        self.W = r.normal(0, 2.5, (6, self.d)); self.b = r.uniform(0, 6.28, 6); self.a = r.normal(0, 1, 6)
        probe = r.uniform(-1, 1, (5000, self.d)); self.s = self.f(probe, raw=True).std()
        self.in_shape = (self.d,); self.n_out = 1
        self.comps = [("core", 0.93), ("edge", 0.07)]; self.groups = {"core": [0], "edge": [1]}
    def f(self, X, raw=False):
        v = np.sin(X @ self.W.T + self.b) @ self.a
        return v if raw else self.ys * v / self.s
    def sample_comp(self, i, n, rng):
        X = rng.uniform(-1, 1, (n, self.d))
        if i == 1: X[:, 0] = rng.uniform(1.0, 1.6, n)
        y = self.f(X) + rng.normal(0, self.sigma * self.ys, n)
        return X.astype(np.float32), y[:, None].astype(np.float32)

GMM_V = [dict(K=3, d=2, sep=1.6, eps=0.0, rare=None), dict(K=5, d=10, sep=0.9, eps=0.15, rare=4),
         dict(K=10, d=20, sep=0.6, eps=0.0, rare=None), dict(K=4, d=8, sep=0.8, eps=0.3, rare=3)]
class GMM(Task):
    arch_ok = ["mlp"]
    def __init__(self, v):
        p = GMM_V[v]; self.__dict__.update(p); r = np.random.default_rng(200 + v)
        self.mu = r.normal(0, self.sep, (self.K, self.d)); self.in_shape = (self.d,); self.n_out = self.K
        w = np.ones(self.K)
        if self.rare is not None: w[self.rare] = 0.04 * (self.K - 1) / 0.96
        w /= w.sum(); self.comps = [("c%d" % k, w[k]) for k in range(self.K)]
        if self.rare is not None:
            self.groups = {"rare": [self.rare], "common": [k for k in range(self.K) if k != self.rare]}
        elif self.K <= 4:
            self.groups = {"c%d" % k: [k] for k in range(self.K)}
        else:
            self.groups = {"a": list(range(self.K // 2)), "b": list(range(self.K // 2, self.K))}
    def sample_comp(self, i, n, rng):
        X = self.mu[i] + rng.normal(0, 1, (n, self.d))
        y = self.noisy_labels(np.full(n, i), rng)
        return X.astype(np.float32), y.astype(np.int64)

SPI_V = [dict(K=2, turns=1.0, sigma=0.05, eps=0.0), dict(K=3, turns=1.5, sigma=0.06, eps=0.0),
         dict(K=5, turns=1.0, sigma=0.04, eps=0.1)]
class Spiral(Task):
    arch_ok = ["mlp"]
    def __init__(self, v):
        self.__dict__.update(SPI_V[v]); self.in_shape = (2,); self.n_out = self.K
        self.comps = []
        for k in range(self.K):
            self.comps += [("in%d" % k, 0.95 / self.K), ("out%d" % k, 0.05 / self.K)]
        self.groups = {"inner": list(range(0, 2 * self.K, 2)), "outer": list(range(1, 2 * self.K, 2))}
    def sample_comp(self, i, n, rng):
        k, outer = i // 2, i % 2
        t = rng.uniform(0.85, 1.0, n) if outer else rng.uniform(0.05, 0.85, n)
        th = self.turns * 2 * np.pi * t + 2 * np.pi * k / self.K
        X = np.stack([t * np.cos(th), t * np.sin(th)], 1) + rng.normal(0, self.sigma, (n, 2))
        y = self.noisy_labels(np.full(n, k), rng)
        return X.astype(np.float32), y.astype(np.int64)

SEQ_V = [dict(V=4, Ls=10, Ll=30, eps=0.0), dict(V=8, Ls=10, Ll=30, eps=0.2), dict(V=6, Ls=8, Ll=24, eps=0.05)]
class Seq(Task):
    arch_ok = ["lstm", "gru"]
    def __init__(self, v):
        self.__dict__.update(SEQ_V[v]); self.n_out = self.V; self.in_shape = (self.Ll, self.V + 1)
        self.comps = [("short", 0.9), ("long", 0.1)]; self.groups = {"short": [0], "long": [1]}
    def sample_comp(self, i, n, rng):
        L = self.Ls if i == 0 else self.Ll
        sym = rng.integers(0, self.V, (n, L)); pos = rng.integers(0, L - 2, n)
        X = np.zeros((n, self.Ll, self.V + 1), np.float32); off = self.Ll - L
        X[np.arange(n)[:, None], off + np.arange(L)[None, :], sym] = 1.0
        X[np.arange(n), off + pos, self.V] = 1.0
        y = self.noisy_labels(sym[np.arange(n), pos], rng)
        return X, y.astype(np.int64)

TS_V = [dict(ar=0.1, sigma=0.05), dict(ar=0.3, sigma=0.1), dict(ar=0.05, sigma=0.3)]
class TS(Task):
    kind = "mse"; arch_ok = ["mlp", "lstm", "gru", "cnn"]; W = 24
    def __init__(self, v):
        self.__dict__.update(TS_V[v]); self.in_shape = (self.W, 1); self.n_out = 1
        self.comps = [("normal", 0.92), ("fast", 0.08)]; self.groups = {"normal": [0], "fast": [1]}
    def sample_comp(self, i, n, rng):
        f = rng.uniform(0.02, 0.08, n) if i == 0 else rng.uniform(0.15, 0.25, n)
        t = np.arange(self.W + 1)[None, :]
        ph = rng.uniform(0, 6.28, (n, 2)); A = rng.uniform(0.5, 1.5, (n, 1))
        s = A * np.sin(2 * np.pi * f[:, None] * t + ph[:, :1]) + 0.5 * np.sin(2 * np.pi * 2.3 * f[:, None] * t + ph[:, 1:])
        e = np.zeros((n, self.W + 1)); z = rng.normal(0, self.ar, (n, self.W + 1))
        for j in range(1, self.W + 1): e[:, j] = 0.8 * e[:, j - 1] + z[:, j]
        s = s + e + rng.normal(0, self.sigma, s.shape)
        return s[:, :self.W, None].astype(np.float32), s[:, self.W:].astype(np.float32)

WAV_V = [dict(sigma=0.3, eps=0.0), dict(sigma=0.8, eps=0.0), dict(sigma=1.2, eps=0.15)]
class Wave(Task):
    arch_ok = ["cnn", "cnn", "mlp"]; Lw = 64
    def __init__(self, v):
        self.__dict__.update(WAV_V[v]); self.in_shape = (self.Lw, 1); self.n_out = 4
        self.comps = []
        for k in range(4): self.comps += [("n%d" % k, 0.9 / 4), ("low%d" % k, 0.1 / 4)]
        self.groups = {"normal": [0, 2, 4, 6], "lowamp": [1, 3, 5, 7]}
    def sample_comp(self, i, n, rng):
        k, low = i // 2, i % 2
        A = rng.uniform(0.15, 0.35, (n, 1)) if low else rng.uniform(0.6, 1.4, (n, 1))
        f = rng.uniform(1, 4, (n, 1)); ph = rng.uniform(0, 1, (n, 1))
        u = (f * np.arange(self.Lw)[None, :] / self.Lw + ph) % 1.0
        w = [np.sin(2 * np.pi * u), np.sign(np.sin(2 * np.pi * u)), 4 * np.abs(u - 0.5) - 1, 2 * u - 1][k]
        X = A * w + rng.normal(0, self.sigma, (n, self.Lw))
        y = self.noisy_labels(np.full(n, k), rng)
        return X[:, :, None].astype(np.float32), y.astype(np.int64)

_TEXT = None
class Char(Task):
    arch_ok = ["chargru", "charlstm"]; S = 32
    def __init__(self, v):
        global _TEXT
        if _TEXT is None:
            import sysconfig
            files = sorted(glob.glob(os.path.join(sysconfig.get_paths()["stdlib"], "*.py")))
            tr, ho = [], []
            for j, fn in enumerate(files):
                try: txt = open(fn, encoding="utf-8").read()
                except Exception: continue
                (ho if j % 4 == 0 else tr).append(txt)
            tr, ho = "".join(tr), "".join(ho)
            from collections import Counter
            cnt = Counter(tr); chars = [c for c, _ in cnt.most_common(95)]
            m = {c: i + 1 for i, c in enumerate(chars)}
            enc = lambda s: np.array([m.get(c, 0) for c in s], np.int64)
            _TEXT = (enc(tr), enc(ho), len(chars) + 1)
        self.tr, self.ho, self.n_out = _TEXT; self.in_shape = (self.S,)
        self.comps = [("all", 1.0)]; self.groups = {}
    def _win(self, src, n, rng):
        st = rng.integers(0, len(src) - self.S - 1, n)
        W = src[st[:, None] + np.arange(self.S + 1)[None, :]]
        return W[:, :-1], W[:, 1:]
    def sample_train(self, n, rng): return self._win(self.tr, n, rng)
    def sample(self, n, rng): return self._win(self.ho, n, rng)

TASKS = {"reg": (Reg, len(REG_V)), "gmm": (GMM, len(GMM_V)), "spiral": (Spiral, len(SPI_V)),
         "seq": (Seq, len(SEQ_V)), "ts": (TS, len(TS_V)), "wave": (Wave, len(WAV_V)), "char": (Char, 1)}

# ----------------------------------------------------------------- specs
def make_specs(n, seed=12345):
    r = np.random.default_rng(seed); specs = []
    fams = ["reg", "gmm", "spiral", "seq", "ts", "wave", "char"]
    fw = np.array([0.2, 0.18, 0.14, 0.11, 0.14, 0.13, 0.06]); fw /= fw.sum()
    intents = ["healthy", "overfit", "oscillate", "plateau", "diverge"]
    iw = [0.38, 0.2, 0.14, 0.14, 0.14]
    lu = lambda a, b: float(math.exp(r.uniform(math.log(a), math.log(b))))
    for i in range(n):
        fam = str(r.choice(fams, p=fw)); cls, nv = TASKS[fam]; v = int(r.integers(nv))
        intent = str(r.choice(intents, p=iw)); arch = str(r.choice(cls.arch_ok))
        keras_ = fam != "char" and r.random() < 0.40
        s = dict(i=i, family=fam, variant=v, intent=intent, arch=arch, framework="keras" if keras_ else "torch",
                 seed=int(r.integers(1 << 30)), width=int(r.choice([32, 64, 128])), depth=2,
                 act="relu", dropout=0.0, wd=0.0, bias_init=None, schedule="none", batch=int(r.choice([16, 32, 64, 128])),
                 n_train=int(lu(800, 4000)), epochs=int(r.integers(20, 61)), momentum=0.0)
        rnn = arch in ("lstm", "gru", "chargru", "charlstm")
        s["hidden"] = int(r.choice([16, 32, 64]))
        if intent == "healthy":
            o = str(r.choice(["adam", "adamw", "sgd", "rmsprop"]))
            s["opt"] = o
            s["lr"] = {"adam": lu(5e-4, 3e-3), "adamw": lu(5e-4, 3e-3), "sgd": lu(0.01, 0.05), "rmsprop": lu(3e-4, 1e-3)}[o]
            if o == "sgd": s["momentum"] = 0.9
            if o == "adamw": s["wd"] = lu(1e-4, 1e-2)
            if r.random() < 0.3: s["dropout"] = 0.1
        elif intent == "overfit":
            s.update(opt="adam", lr=lu(1e-3, 3e-3), n_train=int(lu(40, 300)), width=int(r.choice([256, 512])),
                     depth=int(r.choice([2, 3])), epochs=int(r.integers(60, 151)), hidden=int(r.choice([64, 128])))
            if fam in ("seq", "char"): s["n_train"] = int(lu(150, 400)); s["epochs"] = int(r.integers(40, 81))
            if r.random() < 0.2: s["opt"] = "rmsprop"; s["lr"] = lu(5e-4, 2e-3)
        elif intent == "oscillate":
            o = str(r.choice(["adam", "rmsprop", "sgd"])); s["opt"] = o
            s["lr"] = {"adam": lu(0.01, 0.08), "rmsprop": lu(0.01, 0.05), "sgd": lu(0.1, 0.5)}[o]
            if o == "sgd": s["momentum"] = float(r.choice([0.9, 0.95]))
            s["batch"] = int(r.choice([8, 16, 32])); s["n_train"] = int(lu(500, 2000)); s["epochs"] = int(r.integers(30, 81))
        elif intent == "plateau":
            mode = str(r.choice(["lowlr_sgd", "dead", "sigmoid_deep", "lowlr_adam"])); s["plateau_mode"] = mode
            if rnn or arch == "cnn":
                mode = s["plateau_mode"] = str(r.choice(["lowlr_sgd", "lowlr_adam"]))
            if mode == "lowlr_sgd": s.update(opt="sgd", lr=lu(1e-5, 1e-4))
            elif mode == "lowlr_adam": s.update(opt="adam", lr=lu(1e-6, 1e-5))
            elif mode == "dead": s.update(opt="adam", lr=lu(3e-4, 3e-3), bias_init=-4.0, arch="mlp")
            else: s.update(opt="sgd", lr=lu(3e-4, 3e-3), act="sigmoid", depth=6, arch="mlp")
        else:  # diverge
            o = str(r.choice(["sgd", "adam", "rmsprop", "warmup_sgd"])); s["opt"] = "sgd" if o == "warmup_sgd" else o
            s["lr"] = {"sgd": lu(0.3, 3.0), "adam": lu(0.3, 3.0), "rmsprop": lu(0.1, 1.0), "warmup_sgd": lu(0.5, 5.0)}[o]
            if o == "warmup_sgd": s["schedule"] = "warmup"; s["momentum"] = 0.9
            s["epochs"] = int(r.integers(20, 51))
        if s["schedule"] == "none" and r.random() < 0.3:
            s["schedule"] = str(r.choice(["step", "cosine", "warmup"]))
        if rnn or arch == "cnn":
            s["epochs"] = min(s["epochs"], 40); s["n_train"] = min(s["n_train"], 2000)
        if fam == "char": s["n_train"] = max(s["n_train"], 150) if intent == "overfit" else max(s["n_train"], 1000); s["epochs"] = min(s["epochs"], 30)
        s["val_n"] = int(lu(64, 1000))
        s["subsets"] = "none"
        if fam != "char" and r.random() < 0.32:
            s["subsets"] = "shift" if r.random() < 0.6 else "random"
            s["val_n"] = int(lu(200, 1000))
            if s["subsets"] == "random":
                s["split"] = [[0.5, 0.5], [0.8, 0.2], [0.6, 0.3, 0.1], [0.25] * 4, [0.9, 0.1]][int(r.integers(5))]
        s["log_const"] = bool(r.random() < 0.5)
        s["name"] = "r%03d_%s%d_%s_%s" % (i, fam, v, arch, s["opt"])
        specs.append(s)
    return specs

# ----------------------------------------------------------------- helpers
def lr_at(s, ep):
    lr, E = s["lr"], s["epochs"]
    if s["schedule"] == "step": return lr * (0.3 ** (ep // max(1, E // 3)))
    if s["schedule"] == "cosine": return lr * 0.5 * (1 + math.cos(math.pi * ep / E))
    if s["schedule"] == "warmup":
        w = 5
        return lr * (ep + 1) / w if ep < w else lr
    return lr

def const_loss(task, ytr):
    if task.kind == "mse": return float(np.var(ytr))
    c = np.bincount(ytr.ravel(), minlength=task.n_out).astype(float); p = c[c > 0] / c.sum()
    return float(-(p * np.log(p)).sum())

def fin(x):
    return x if (x is not None and math.isfinite(x)) else None

def jnum(x):
    if x is None: return None
    x = float(x)
    if math.isnan(x): return "NaN"
    if math.isinf(x): return "Infinity" if x > 0 else "-Infinity"
    return x

def build_data(s, task, rng):
    if s["family"] == "char":
        Xtr, ytr = task.sample_train(s["n_train"], rng)
        Xv, yv = task.sample(s["val_n"], rng)
        Xo, yo = task.sample(ORACLE_N, rng)
        return dict(Xtr=Xtr, ytr=ytr, Xv=Xv, yv=yv, vgroups={}, oracle={"__all__": (Xo, yo)}, weights={})
    Xtr, ytr = task.sample(s["n_train"], rng)
    if s["subsets"] == "shift":
        Xs, ys, vg, orc, wts = [], [], {}, {}, {}
        tot = s["val_n"]; start = 0
        gw = {g: sum(task.comps[i][1] for i in idx) for g, idx in task.groups.items()}
        for g, idx in task.groups.items():
            ng = max(int(round(gw[g] * tot)), 40)
            X, y = task.sample_group(idx, ng, rng); Xs.append(X); ys.append(y)
            vg[g] = np.arange(start, start + ng); start += ng
            orc[g] = task.sample_group(idx, ORACLE_N, rng)
        Xv, yv = np.concatenate(Xs), np.concatenate(ys)
        wts = {g: len(vg[g]) / len(Xv) for g in vg}
        return dict(Xtr=Xtr, ytr=ytr, Xv=Xv, yv=yv, vgroups=vg, oracle=orc, weights=wts)
    Xv, yv = task.sample(s["val_n"], rng)
    orc = {"__all__": task.sample(ORACLE_N, rng)}; vg = {}; wts = {}
    if s["subsets"] == "random":
        perm = rng.permutation(len(Xv)); cuts = np.cumsum([0] + [int(round(p * len(Xv))) for p in s["split"]]); cuts[-1] = len(Xv)
        for j in range(len(s["split"])):
            g = "part%d" % j; vg[g] = np.sort(perm[cuts[j]:cuts[j + 1]])
            orc[g] = task.sample(ORACLE_N, rng); wts[g] = len(vg[g]) / len(Xv)
    return dict(Xtr=Xtr, ytr=ytr, Xv=Xv, yv=yv, vgroups=vg, oracle=orc, weights=wts)

def per_sample_np(task, out, y, char=False):
    if task.kind == "mse": return ((out - y) ** 2).mean(axis=1)
    out = out.astype(np.float64); m = out.max(-1, keepdims=True)
    lse = np.log(np.exp(out - m).sum(-1)) + m[..., 0]
    pick = np.take_along_axis(out, y[..., None], -1)[..., 0]
    l = lse - pick
    acc = (out.argmax(-1) == y).astype(float)
    if char: l = l.mean(-1); acc = acc.mean(-1)
    return l, acc

class Writer:
    def __init__(self, s, task, data):
        self.s, self.task, self.data = s, task, data; self.t0 = time.time()
        self.rows = []; self.orc = {"__all__": []}; self.orc.update({g: [] for g in data["vgroups"]})
        self.C = const_loss(task, data["ytr"])
        self.jl = open(os.path.join(OUT, s["name"] + ".jsonl"), "w")
        cfg = {k: s[k] for k in ("framework", "arch", "opt", "lr", "batch", "epochs", "schedule", "width", "depth", "hidden", "dropout", "wd", "momentum")}
        cfg["optimizer"] = s["opt"]; cfg["batch_size"] = s["batch"]; cfg["task"] = s["family"]
        self.jl.write(json.dumps({"kind": "header", "format": "lstm-top", "version": 1, "run": s["name"], "started": self.t0, "config": cfg}) + "\n")
    def epoch(self, ep, logs, val_ps, val_acc, oracle):
        # logs: dict of csv values (loss, val_loss, [accuracy, val_accuracy], [lr])
        self.rows.append(logs)
        m = {k: jnum(v) for k, v in logs.items()}
        m["val_n"] = int(len(val_ps)); m["val_loss_std"] = jnum(float(np.std(val_ps)))
        if self.s["log_const"]: m["constant_guess_loss"] = self.C
        rec = {"kind": "epoch", "epoch": ep + 1, "time": round(time.time(), 3), "metrics": m}
        if self.data["vgroups"]:
            sub = {}
            for g, idx in self.data["vgroups"].items():
                d = {"val_loss": jnum(float(np.mean(val_ps[idx]))), "val_loss_std": jnum(float(np.std(val_ps[idx]))), "n": int(len(idx))}
                if val_acc is not None: d["val_accuracy"] = jnum(float(np.mean(val_acc[idx])))
                sub[g] = d
            rec["subsets"] = sub
        self.jl.write(json.dumps(rec) + "\n"); self.jl.flush()
        for g, v in oracle.items(): self.orc[g].append(fin(float(v)))
    def close(self, note=""):
        self.jl.write(json.dumps({"kind": "end", "time": round(time.time(), 3), "status": "completed"}) + "\n"); self.jl.close()
        if self.s["framework"] == "torch":
            keys = sorted({k for r in self.rows for k in r})
            with open(os.path.join(OUT, self.s["name"] + ".csv"), "w") as f:
                f.write(",".join(["epoch"] + keys) + "\n")
                for e, r in enumerate(self.rows):
                    f.write(",".join([str(e)] + [repr(float(r[k])) if k in r else "" for k in keys]) + "\n")
        o = dict(run=self.s["name"], settings=self.s, task_key="%s%d" % (self.s["family"], self.s["variant"]),
                 constant_loss=self.C, oracle_n=ORACLE_N, loss_kind=self.task.kind,
                 train_loss=[fin(float(r["loss"])) for r in self.rows],
                 train_loss_nonfinite=[not math.isfinite(float(r["loss"])) for r in self.rows],
                 oracle_loss=self.orc["__all__"], oracle_subsets={g: v for g, v in self.orc.items() if g != "__all__"},
                 subset_weights=self.data["weights"], subset_kind=self.s["subsets"], seconds=round(time.time() - self.t0, 2), note=note)
        json.dump(o, open(os.path.join(OUT, self.s["name"] + ".oracle.json"), "w"))

def oracle_eval(s, data, predict_ps):
    """Returns {'__all__': loss, group: loss}. For shift subsets the overall oracle is the
    val-share-weighted mean of the per-subset oracle losses (the validation distribution)."""
    res = {}
    for g, (X, y) in data["oracle"].items():
        res[g] = float(np.mean(predict_ps(X, y)))
    if s["subsets"] == "shift":
        res["__all__"] = sum(data["weights"][g] * res[g] for g in data["vgroups"])
    return res

# ----------------------------------------------------------------- torch
class MLP(nn.Module):
    def __init__(self, din, dout, w, depth, act, drop, bias_init):
        super().__init__(); L = []; d = din
        A = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[act]
        for _ in range(depth):
            lin = nn.Linear(d, w)
            if bias_init is not None: nn.init.constant_(lin.bias, bias_init)
            L += [lin, A()] + ([nn.Dropout(drop)] if drop else []); d = w
        L.append(nn.Linear(d, dout)); self.net = nn.Sequential(*L)
    def forward(self, x): return self.net(x.flatten(1))
class RNN(nn.Module):
    def __init__(self, din, dout, cell, h):
        super().__init__(); self.r = (nn.LSTM if cell == "lstm" else nn.GRU)(din, h, batch_first=True); self.o = nn.Linear(h, dout)
    def forward(self, x): y, _ = self.r(x); return self.o(y[:, -1])
class CNN(nn.Module):
    def __init__(self, cin, dout, ch, drop):
        super().__init__()
        self.c = nn.Sequential(nn.Conv1d(cin, ch, 5, padding=2), nn.ReLU(), nn.MaxPool1d(2), nn.Conv1d(ch, ch, 5, padding=2), nn.ReLU())
        self.d = nn.Dropout(drop) if drop else nn.Identity(); self.o = nn.Linear(ch, dout)
    def forward(self, x): return self.o(self.d(self.c(x.transpose(1, 2)).mean(-1)))
class CharRNN(nn.Module):
    def __init__(self, V, cell, h, drop):
        super().__init__(); self.e = nn.Embedding(V, 32); self.r = (nn.LSTM if cell == "charlstm" else nn.GRU)(32, h, batch_first=True)
        self.d = nn.Dropout(drop) if drop else nn.Identity(); self.o = nn.Linear(h, V)
    def forward(self, x): y, _ = self.r(self.e(x)); return self.o(self.d(y))

def run_torch(s, task, data):
    torch.manual_seed(s["seed"]); a = s["arch"]; din = int(np.prod(task.in_shape)); dout = task.n_out
    if a == "mlp": model = MLP(din, dout, s["width"], s["depth"], s["act"], s["dropout"], s["bias_init"])
    elif a in ("lstm", "gru"): model = RNN(task.in_shape[-1], dout, a, s["hidden"] if s["intent"] != "overfit" else s["hidden"])
    elif a == "cnn": model = CNN(task.in_shape[-1], dout, max(16, s["width"] // 4), s["dropout"])
    else: model = CharRNN(dout, a, max(32, s["hidden"] * 2 if s["intent"] == "overfit" else s["hidden"]), s["dropout"])
    P = model.parameters(); o = s["opt"]
    if o == "sgd": opt = torch.optim.SGD(P, lr=s["lr"], momentum=s["momentum"])
    elif o == "adam": opt = torch.optim.Adam(P, lr=s["lr"])
    elif o == "adamw": opt = torch.optim.AdamW(P, lr=s["lr"], weight_decay=s["wd"])
    else: opt = torch.optim.RMSprop(P, lr=s["lr"])
    char = s["family"] == "char"; ce = task.kind == "ce"
    Xtr = torch.tensor(data["Xtr"]); ytr = torch.tensor(data["ytr"])
    def ps(X, y):
        model.eval(); outs = []
        with torch.no_grad():
            for j in range(0, len(X), 2048): outs.append(model(torch.tensor(X[j:j + 2048])).numpy())
        out = np.concatenate(outs)
        if ce: return per_sample_np(task, out, y, char)
        return per_sample_np(task, out, y), None
    W = Writer(s, task, data); note = ""
    for ep in range(s["epochs"]):
        lr = lr_at(s, ep)
        for g in opt.param_groups: g["lr"] = lr
        model.train(); perm = torch.randperm(len(Xtr)); ls, accs = [], []
        for j in range(0, len(Xtr), s["batch"]):
            b = perm[j:j + s["batch"]]; out = model(Xtr[b])
            if char: loss = Fn.cross_entropy(out.reshape(-1, dout), ytr[b].reshape(-1))
            elif ce: loss = Fn.cross_entropy(out, ytr[b])
            else: loss = Fn.mse_loss(out, ytr[b])
            opt.zero_grad(); loss.backward(); opt.step(); ls.append(loss.item())
            if ce: accs.append((out.argmax(-1) == ytr[b]).float().mean().item())
        logs = {"loss": float(np.mean(ls))}
        vps, vacc = ps(data["Xv"], data["yv"]); logs["val_loss"] = float(np.mean(vps))
        if ce: logs["accuracy"] = float(np.mean(accs)); logs["val_accuracy"] = float(np.mean(vacc))
        if s["schedule"] != "none": logs["lr"] = lr
        orc = oracle_eval(s, data, lambda X, y: ps(X, y)[0])
        W.epoch(ep, logs, vps, vacc, orc)
        if not math.isfinite(logs["loss"]): note = "stopped: non-finite loss"; break
        if time.time() - W.t0 > RUN_CAP_S: note = "stopped: time cap after %d epochs" % (ep + 1); break
    W.close(note)

# ----------------------------------------------------------------- keras
def run_keras(s, task, data):
    import keras
    from keras import layers
    keras.utils.set_random_seed(s["seed"] % (2 ** 31))
    inp = keras.Input(shape=task.in_shape); x = inp; a = s["arch"]
    if a == "mlp":
        if len(task.in_shape) > 1: x = layers.Flatten()(x)
        bi = keras.initializers.Constant(s["bias_init"]) if s["bias_init"] is not None else "zeros"
        for _ in range(s["depth"]):
            x = layers.Dense(s["width"], activation=s["act"], bias_initializer=bi)(x)
            if s["dropout"]: x = layers.Dropout(s["dropout"])(x)
    elif a in ("lstm", "gru"):
        x = (layers.LSTM if a == "lstm" else layers.GRU)(s["hidden"])(x)
    else:
        ch = max(16, s["width"] // 4)
        x = layers.Conv1D(ch, 5, padding="same", activation="relu")(x); x = layers.MaxPooling1D(2)(x)
        x = layers.Conv1D(ch, 5, padding="same", activation="relu")(x); x = layers.GlobalAveragePooling1D()(x)
        if s["dropout"]: x = layers.Dropout(s["dropout"])(x)
    out = layers.Dense(task.n_out)(x); model = keras.Model(inp, out)
    o = s["opt"]
    if o == "sgd": opt = keras.optimizers.SGD(learning_rate=s["lr"], momentum=s["momentum"])
    elif o == "adam": opt = keras.optimizers.Adam(learning_rate=s["lr"])
    elif o == "adamw": opt = keras.optimizers.AdamW(learning_rate=s["lr"], weight_decay=s["wd"])
    else: opt = keras.optimizers.RMSprop(learning_rate=s["lr"])
    ce = task.kind == "ce"
    if ce: model.compile(optimizer=opt, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    else: model.compile(optimizer=opt, loss="mse")
    W = Writer(s, task, data); state = {"note": ""}
    def ps(X, y):
        out = model.predict(X, batch_size=2048, verbose=0)
        if ce: return per_sample_np(task, out, y)
        return per_sample_np(task, out, y), None
    class Sched(keras.callbacks.Callback):
        def on_epoch_begin(self, ep, logs=None):
            self.model.optimizer.learning_rate = lr_at(s, ep)
        def on_epoch_end(self, ep, logs=None):
            if s["schedule"] != "none": logs["lr"] = float(lr_at(s, ep))
    class Orc(keras.callbacks.Callback):
        def on_epoch_end(self, ep, logs=None):
            vps, vacc = ps(data["Xv"], data["yv"])
            lg = {k: float(v) for k, v in logs.items()}
            if "val_loss" not in lg: lg["val_loss"] = float(np.mean(vps))
            W.epoch(ep, lg, vps, vacc, oracle_eval(s, data, lambda X, y: ps(X, y)[0]))
            if not math.isfinite(lg["loss"]): state["note"] = "stopped: non-finite loss"
            if time.time() - W.t0 > RUN_CAP_S:
                state["note"] = "stopped: time cap after %d epochs" % (ep + 1); self.model.stop_training = True
    cbs = [Sched(), Orc(), keras.callbacks.CSVLogger(os.path.join(OUT, s["name"] + ".csv")), keras.callbacks.TerminateOnNaN()]
    model.fit(data["Xtr"], data["ytr"], batch_size=s["batch"], epochs=s["epochs"], validation_data=(data["Xv"], data["yv"]),
              callbacks=cbs, verbose=0, shuffle=True)
    W.close(state["note"])

def run_one(s):
    cls, _ = TASKS[s["family"]]; task = cls(s["variant"])
    rng = np.random.default_rng(s["seed"]); data = build_data(s, task, rng)
    (run_keras if s["framework"] == "keras" else run_torch)(s, task, data)

if __name__ == "__main__":
    ap = argparse.ArgumentParser(); ap.add_argument("--shard", type=int, default=0); ap.add_argument("--nshards", type=int, default=1)
    ap.add_argument("--n", type=int, default=200); ap.add_argument("--deadline", type=float, default=1e18); ap.add_argument("--only", default=None)
    # A second corpus from the same generator on other draws (a held-out set): --root elsewhere, --seed other.
    ap.add_argument("--root", default="/work/blind-oracle", help="runs are written to ROOT/runs")
    ap.add_argument("--seed", type=int, default=12345, help="draws the run specifications")
    a = ap.parse_args(); torch.set_num_threads(1)
    OUT = os.path.join(a.root, "runs"); os.makedirs(OUT, exist_ok=True)
    specs = make_specs(a.n, seed=a.seed)
    for s in specs:
        if a.only is not None and s["name"] != a.only and str(s["i"]) != a.only: continue
        if a.only is None and s["i"] % a.nshards != a.shard: continue
        if os.path.exists(os.path.join(OUT, s["name"] + ".oracle.json")): continue
        if time.time() > a.deadline: print("deadline reached"); break
        t = time.time()
        try: run_one(s); print("done", s["name"], round(time.time() - t, 1), flush=True)
        except Exception as e:
            import traceback; traceback.print_exc(); print("FAILED", s["name"], repr(e), flush=True)
