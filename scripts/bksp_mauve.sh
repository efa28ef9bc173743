#!/usr/bin/env bash
# MAUVE (SmolLM2 features) of one trained model on lee's validation rows, over sampling seeds 1-3, one sample per
# prompt at T = 1, 32 tokens: `bash scripts/bksp_mauve.sh runs/bksp/mle_s1` appends one line per seed to
# docs/results/bksp_pretrained_mauve.jsonl.
set -euo pipefail
model=$1
data=runs/bksp/data/lee_validation.jsonl
for seed in 1 2 3; do
  out=$model/eval_text_seed$seed.json
  .venv/bin/imitlm evaluate --model "$model" --task text --data "$data" --num_examples 0 --max_new_tokens 32 \
    --seed "$seed" --mauve_features smollm2-135m --output "$out" > /dev/null
  .venv/bin/python -c "import json,sys; r=json.load(open('$out')); print(json.dumps({'model': '$model', 'seed': $seed, **{k: r[k] for k in ('mauve','perplexity','self_bleu','distinct_2','mean_length_words')}}))" >> docs/results/bksp_pretrained_mauve.jsonl
done
