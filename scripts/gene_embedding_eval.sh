#!/usr/bin/env bash
# Does the gene model's cell embedding carry cell identity? (issue 14, item 5)
#
#   scripts/gene_embedding_eval.sh OUT SETTING [pretrain exceiver options...]
#
# SETTING picks the cells and the split:
#   kang-val   Kang 2018, the 6 training patients only, 2 of them held out as validation patients:
#              the setting used to choose the gene model's options (the test patients are never read)
#   kang-test  Kang 2018, 2 held-out test patients, model and baselines on the other 6
#   pbmc3k     pbmc3k, a stratified random 30% of cells held out (one donor)
#   pbmc3k-val pbmc3k's training cells of the pbmc3k setting only, a stratified 30% of them held out:
#              where pbmc3k-specific options are chosen (pbmc3k's test cells are never read)
#
# For each: the split, the gene model pretrained on the training part, its embedding, and beside it
# the PCA baseline (3,000 HVG scaled, 50 components fitted on the training part):
#   knn      embedding-metrics: test cells vote among training cells (k = 15); ARI of k-means
#   probe    classify train --head linear on the embedding (early stopping on training cells)
# Prints one JSON line per embedding to OUT/SETTING/summary.jsonl.
set -euo pipefail
out=$1; setting=$2; shift 2
marrow=${MARROW:-build/marrow}
shared=${SHARED:-../shared/data}
kang=$shared/kang2018/lupus_pbmc.h5ad
dir=$out/$setting; mkdir -p "$dir"

case $setting in
  kang-val|kang-test)
    data=$kang; labels=(); label=cell_type
    "$marrow" -q split --data "$data" --by group:patient --test-fraction 0.25 --seed 0 --out "$dir/outer.json"
    if [[ $setting == kang-val ]]; then
      "$marrow" -q inspect "$data" --json > "$dir/inspect.json"
      train_patients=$(/usr/bin/python3 - "$dir/outer.json" "$dir/inspect.json" <<'EOF'
import json, sys
test = set(json.load(open(sys.argv[1]))["test_groups"])
column = next(c for c in json.load(open(sys.argv[2]))["obs_columns"] if c["name"] == "patient")
print(",".join(c["value"] for c in column["categories"] if c["value"] not in test))
EOF
)
      cells=(--cells "patient=$train_patients")
      "$marrow" -q split --data "$data" "${cells[@]}" --by group:patient --test-fraction 0.34 --seed 0 --out "$dir/split.json"
    else
      cells=(); cp "$dir/outer.json" "$dir/split.json"
    fi ;;
  pbmc3k|pbmc3k-val)
    data=$shared/pbmc3k; labels=(--labels "$shared/pbmc3k/cell_types.csv"); label=cell_type; cells=()
    "$marrow" -q split --data "$data" "${labels[@]}" --by stratified:cell_type --test-fraction 0.3 --seed 0 --out "$dir/outer.json"
    if [[ $setting == pbmc3k-val ]]; then
      # The outer training cells, split again by cell type; the outer test cells are in no part.
      /usr/bin/python3 - "$dir/outer.json" "$shared/pbmc3k/cell_types.csv" "$dir/split.json" <<'EOF'
import csv, json, random, sys
outer, labels, out = json.load(open(sys.argv[1])), dict(csv.reader(open(sys.argv[2]))), sys.argv[3]
by_type = {}
for cell in outer["train"]:
    by_type.setdefault(labels[cell], []).append(cell)
rng, train, test = random.Random(0), [], []
for cells in by_type.values():
    rng.shuffle(cells)
    held = round(0.3 * len(cells))
    test += cells[:held]; train += cells[held:]
json.dump({"kind": "stratified", "column": "cell_type", "test_fraction": 0.3, "seed": 0,
           "train": sorted(train), "test": sorted(test)}, open(out, "w"))
EOF
    else
      cp "$dir/outer.json" "$dir/split.json"
    fi ;;
  *) echo "unknown setting $setting" >&2; exit 2 ;;
esac

common=(--data "$data" "${labels[@]}" "${cells[@]}" --split-file "$dir/split.json")
start=$(date +%s)
"$marrow" -q pretrain exceiver "${common[@]}" --metrics "$dir/pretrain.jsonl" --out "$dir/ex.marrow" "$@"
seconds=$(( $(date +%s) - start ))
"$marrow" -q embed --model "$dir/ex.marrow" --data "$data" "${labels[@]}" --out "$dir/emb.h5ad"
: > "$dir/summary.jsonl"
for emb in X_marrow pca; do
  knn=$("$marrow" -q embedding-metrics --data "$dir/emb.h5ad" "${labels[@]}" "${cells[@]}" --embedding $emb --label $label \
        --split-file "$dir/split.json" --json)
  probe=$("$marrow" -q classify train --data "$dir/emb.h5ad" "${labels[@]}" "${cells[@]}" --embedding $emb --pca-components 50 \
          --head linear --label $label --split-file "$dir/split.json" --json --out "$dir/probe_$emb.marrow")
  /usr/bin/python3 - "$emb" "$knn" "$probe" "$seconds" "$*" >> "$dir/summary.jsonl" <<'EOF'
import json, sys
emb, knn, probe, seconds, args = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4], sys.argv[5]
print(json.dumps({"embedding": emb, "options": args, "pretrain_s": int(seconds),
                  "knn_accuracy": knn["knn"]["accuracy"], "knn_macro_f1": knn["knn"]["macro_f1"], "ari": knn.get("ari"),
                  "probe_accuracy": probe.get("accuracy"), "probe_macro_f1": probe.get("macro_f1"),
                  "probe_balanced_accuracy": probe.get("balanced_accuracy")}))
EOF
done
cat "$dir/summary.jsonl"
