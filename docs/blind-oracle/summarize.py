import pandas as pd, json, glob, os, sys
D="/work/blind-oracle"
df=pd.read_csv(D+"/labels.csv")
signs=["healthy","stagnating_val_loss","oscillating_val_loss","train_plateau","diverging_loss","subset_gap"]
out=["# Blind-oracle corpus summary",""]
out.append("Runs: %d (files per run: NAME.csv, NAME.jsonl, NAME.oracle.json in runs/)"%len(df)); out.append("")
out.append("## Label counts (yes / no / gray)"); out.append("")
out.append("| sign | yes | no | gray |"); out.append("|---|---|---|---|")
for s in signs:
    c=df[s].value_counts(); out.append("| %s | %d | %d | %d |"%(s,c.get("yes",0),c.get("no",0),c.get("gray",0)))
out.append("")
sub=df[df.notes.str.contains("subsets=shift")|df.notes.str.contains("subsets=random")]
out.append("Runs with subsets: %d (shift %d, random-split controls %d); subset_gap among shift runs: %s"%(len(sub),
  df.notes.str.contains("subsets=shift").sum(), df.notes.str.contains("subsets=random").sum(),
  dict(df[df.notes.str.contains("subsets=shift")].subset_gap.value_counts())))
rnd=df[df.notes.str.contains("subsets=random")]
out.append("Random-split controls where the rule itself would not have said no: %d"%rnd.notes.str.contains("forced no").sum())
out.append("")
out.append("## Per family"); out.append("")
fw=df.notes.str.extract(r"fw=(\w+)")[0]
t=df.assign(fw=fw)
out.append("| family | runs | keras | healthy yes | stagnating yes | oscillating yes | plateau yes | diverging yes | subset_gap yes |")
out.append("|---|---|---|---|---|---|---|---|---|")
for f,g in t.groupby("family"):
    out.append("| %s | %d | %d | %s |"%(f,len(g),(g.fw=="keras").sum()," | ".join(str((g[s]=="yes").sum()) for s in signs)))
out.append("")
out.append("## Intent (how hyper-parameters were drawn) vs. oracle label 'healthy'"); out.append("")
it=df.notes.str.extract(r"intent=(\w+)")[0]
out.append("```\n"+pd.crosstab(it,df.healthy).to_string()+"\n```")
out.append("")
secs=[json.load(open(f))["seconds"] for f in glob.glob(D+"/runs/*.oracle.json")]
out.append("Per-run training time: median %.1f s, max %.1f s, total %.0f CPU-s."%(pd.Series(secs).median(),max(secs),sum(secs)))
out.append("Time-capped runs (stopped at 30 s wall): %d; stopped on non-finite loss: %d."%(df.notes.str.contains("time cap").sum(),df.notes.str.contains("non-finite").sum()))
print("\n".join(out))
