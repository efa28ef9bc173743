#!/usr/bin/env bash
# The real-model study as run for docs/results_real.md: two one-thread processes side by side on 2 cores.
# Usage: bash scripts/study_real.sh text|probe|arithmetic
set -euo pipefail
export OMP_NUM_THREADS=1
R=docs/results/smollm2
S="python scripts/study_real.py"
case "$1" in
  text-a)  # the two slowest presets and mle, test split
    $S --study text --split test --steps 60 --num_prompts 150 --seeds 1 2 3 --out_dir runs/real \
       --variant sequencematch:bksp_head_only=true --variant iqlearn_online --variant mle --results $R/text_test.jsonl ;;
  text-b)
    $S --study text --split test --steps 60 --num_prompts 150 --seeds 1 2 3 --out_dir runs/real --base \
       --variant mle_bksp --variant iqlearn --results $R/text_test.jsonl ;;
  probe)  # arithmetic: the untuned base and mle at two learning rates, validation split, one seed
    for lr in 0.0002 0.001; do
      $S --study arithmetic --split validation --steps 150 --batch_size 16 --learning_rate $lr --num_prompts 200 \
         --seeds 1 --out_dir runs/real_lr$lr --variant mle --results $R/arithmetic_validation_probe.jsonl
    done ;;
  base23)  # run once text-b2 had finished, on the free core: the untuned base's second and third sample sets
    $S --study text --split test --steps 60 --num_prompts 150 --seeds 2 3 --out_dir runs/real --base --results $R/text_test.jsonl ;;
  text-b2)  # as run: the second process after the probe; text-a's mle seed 3 moved here to balance the two
    $S --study text --split test --steps 60 --num_prompts 150 --seeds 1 2 3 --out_dir runs/real \
       --variant mle_bksp --variant iqlearn --results $R/text_test.jsonl
    $S --study text --split test --steps 60 --num_prompts 150 --seeds 1 --out_dir runs/real --base --results $R/text_test.jsonl
    $S --study text --split test --steps 60 --num_prompts 150 --seeds 3 --out_dir runs/real_b \
       --variant mle --results $R/text_test.jsonl ;;
esac
