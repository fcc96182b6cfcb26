#!/usr/bin/env bash
# Fine-tuning against the frozen encoder, the same network from scratch and a supervised MLP on the
# 3,000 genes, on van Galen's progenitor malignancy task over whole held-out patients (one group
# split per seed, validation patients inside the training set; every fitted step on training
# patients). Usage: scripts/finetune_vangalen.sh OUT_DIR [SEEDS...]  (docs/results.md quotes it).
set -euo pipefail
out="${1:?usage: scripts/finetune_vangalen.sh OUT_DIR [SEEDS...]}"; shift
seeds=("${@:-0 1 2}"); seeds=(${seeds[@]})
marrow="${MARROW:-build/marrow}"
data="${DATA:-../shared/data/vangalen2019/bone_marrow.h5ad}"
prog="cell_type=HSC,Prog,GMP,HSC-like,Prog-like,GMP-like;malignancy=malignant,normal"
mkdir -p "$out"
for s in "${seeds[@]}"; do
  d="$out/seed$s"; mkdir -p "$d"
  "$marrow" split --data "$data" --by group:patient --stratify condition --test-fraction 0.3 --validation-fraction 0.2 \
    --seed "$s" --out "$d/split.json"
  "$marrow" pretrain ae --data "$data" --split-file "$d/split.json" --seed "$s" --hvg seurat_v3 --n-top-genes 3000 --scale \
    --latent 256 --hidden 1024,512 --dropout 0 --epochs 60 --batch-size 128 --patience 8 --out "$d/ae.marrow" >/dev/null
  "$marrow" embed --model "$d/ae.marrow" --data "$data" --out "$d/emb.h5ad" >/dev/null
  common=(--cells "$prog" --label malignancy --split-file "$d/split.json" --seed "$s" --json)
  "$marrow" classify train --data "$d/emb.h5ad" --embedding X_marrow --head mlp "${common[@]}" --out "$d/frozen.marrow" > "$d/frozen.json"
  "$marrow" finetune --model "$d/ae.marrow" --data "$data" --head mlp --epochs 100 --batch-size 64 --lr 1e-3 --patience 10 \
    "${common[@]}" --out "$d/finetuned.marrow" > "$d/finetuned.json"
  "$marrow" finetune --model "$d/ae.marrow" --data "$data" --head mlp --epochs 100 --batch-size 64 --lr 1e-3 --patience 10 \
    --from-scratch --encoder-lr-factor 1 "${common[@]}" --out "$d/scratch.marrow" > "$d/scratch.json"
  "$marrow" classify train --data "$data" --embedding hvg --head mlp "${common[@]}" --out "$d/hvg_mlp.marrow" > "$d/hvg_mlp.json"
  "$marrow" classify train --data "$data" --embedding pca --head linear "${common[@]}" --out "$d/pca.marrow" > "$d/pca.json"
  "$marrow" classify train --data "$data" --embedding hvg --head linear "${common[@]}" --out "$d/hvg_lr.marrow" > "$d/hvg_lr.json"
  rm -f "$d/emb.h5ad"
done
/usr/bin/python3 - "$out" "${seeds[@]}" <<'PY'
import json, sys, statistics as st
out, seeds = sys.argv[1], sys.argv[2:]
print("| model | AUROC | balanced accuracy | per seed AUROC |\n|---|---|---|---|")
for m in ["finetuned", "frozen", "scratch", "hvg_mlp", "pca", "hvg_lr"]:
    r = [json.load(open(f"{out}/seed{s}/{m}.json")) for s in seeds]
    a, b = [x["auroc"] for x in r], [x["balanced_accuracy"] for x in r]
    sd = lambda v: st.stdev(v) if len(v) > 1 else 0.0
    print(f"| {m} | {st.mean(a):.3f} ± {sd(a):.3f} | {st.mean(b):.3f} ± {sd(b):.3f} | {' '.join(f'{x:.3f}' for x in a)} |")
PY
