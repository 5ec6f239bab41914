#!/bin/sh
# AAO vs token-DPO vs sequence DPO (and TIS-DPO) on sentiment-token / sentiment at the CI
# configuration, beta in {0.05, 0.1, 0.25, 0.5}, seeds 1-3; one discover eval per objective,
# JSON into $OUT (default /tmp/tokbench). Run from anywhere: D is the source tree.
# bench/sentiment-token/summarise.py turns the JSON into the table of RESULTS-sentiment-token.md.
D=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-/tmp/tokbench}
mkdir -p "$OUT"
S="--set vocab=1024 --set layers=1 --set width=48 --set heads=2 --set context=40 --set pretrain_steps=100 --set sft_steps=400 --set lm_batch=16 --set sft_lr=0.004 --set pretrain_lr=0.004 --set prompts=256 --set samples=8 --set eval_prompts=64 --set eval_samples=4 --set response_len=16 --set steps=40 --set batch=16 --set lr=0.002 --set threads=1 --set gap=0.15 --set curve_points=2"
for o in sentiment-token:sentiment-token/aao sentiment-token:sentiment-token/dpo_token sentiment:sentiment/dpo sentiment-token:sentiment-token/tis_dpo; do
  task=${o%%:*}; f=${o#*:}; n=$(basename $f)
  /usr/bin/time -f "%e s" $D/build/bin/discover eval $D/examples/objectives/$f.c --task $task --seeds 1,2,3 --beta 0.05,0.1,0.25,0.5 $S --json > $OUT/$n.json 2> $OUT/$n.err
done
echo done > $OUT/done
