#!/usr/bin/env bash
# Second GPU call (2026-11-30): the divided TimeSformer, 20,000 steps, seeds 0-2, each run stopped
# (and saved) after 185 CPU-s of its main process if it has not finished.
set -u
OUT=${OUT:-/tmp/gpu_out}; R=/tmp/gpu_runs2; mkdir -p "$R" "$OUT"
export PYTHONPATH=$PWD COMPANION_DATA=/tmp/companion_data PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
PY=${PY:-python3}; DEV=${DEV:-cuda}; STEPS=${STEPS:-20000}; BUDGET=${BUDGET:-185}
for s in 0 1 2; do
  timeout 225 $PY scripts/train_timesformer_actions.py --device $DEV --attention divided --steps $STEPS --seed $s \
    --workers 4 --cpu-budget-s $BUDGET --out $R/ts_divided_20k_s$s.pt > $R/s$s.log 2>&1 &
done
wait
for s in 0 1 2; do grep "held-out" $R/s$s.log | awk 'NR%10==0' | sed 's/.*step \([0-9]*\):.*held-out\[:200\] \(.*\)/\1:\2/' | tr '\n' ' '; echo; grep -h '^{' $R/s$s.log | cut -c1-260; done
tar czf "$OUT/results2.tar.gz" -C "$R" .
