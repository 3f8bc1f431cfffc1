#!/usr/bin/env bash
# The runs made on a lent GPU machine (the device tool) on 2026-11-30: RAFT stage 4 ("large") and the
# divided-TimeSformer experiments of issue 16, all at once (16 CPU cores render the data).
# Every command is the same script a CPU user runs; only --device $DEV and the worker counts differ.
#   bash scripts/gpu_runs.sh smoke     # a few steps of each, to check the machine
#   bash scripts/gpu_runs.sh           # the runs; results in $OUT/results.tar.gz
#   bash scripts/gpu_runs.sh long      # second call: the divided TimeSformer, 20,000 steps, seeds 0-2,
#                                      # each stopped (and saved) after 185 CPU-s of its main process;
#                                      # results in $OUT/results2.tar.gz (shipped until the 40,000-step
#                                      # CPU runs replaced them as divided_long*)
set -u
OUT=${OUT:-/tmp/gpu_out}; R=/tmp/gpu_runs; mkdir -p "$R" "$OUT"
export PYTHONPATH=$PWD COMPANION_DATA=/tmp/companion_data PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
PY=${PY:-python3}; DEV=${DEV:-cuda}
TS="$PY scripts/train_timesformer_actions.py --device $DEV"
RAFT="$PY scripts/train_raft_small.py --device $DEV --stage large --init companion/weights/raft_small_synthetic.pt --batch 8 --iters 8 --lr 2.5e-4 --steps 100000"
nvidia-smi --query-gpu=name,memory.used --format=csv,noheader; $PY -c "import torch; print(torch.__version__, torch.cuda.is_available())"
if [ "${1:-}" = smoke ]; then
  $RAFT --workers 2 --steps 3 --out $R/raft_smoke.pt 2>&1 | tail -2
  $TS --attention rotate_only_zero --steps 20 --workers 1 --out $R/rot_smoke.pt 2>&1 | tail -1 | cut -c1-200
  $TS --attention divided --steps 20 --workers 1 --init $R/rot_smoke.pt --no-save 2>&1 | tail -1 | cut -c1-200
  exit 0
fi
if [ "${1:-}" = long ]; then
  R=/tmp/gpu_runs2; mkdir -p "$R"; STEPS=${STEPS:-20000}; BUDGET=${BUDGET:-185}
  for s in 0 1 2; do
    timeout 225 $TS --attention divided --steps $STEPS --seed $s --workers 4 --cpu-budget-s $BUDGET \
      --out $R/ts_divided_20k_s$s.pt > $R/s$s.log 2>&1 &
  done
  wait
  for s in 0 1 2; do grep "held-out" $R/s$s.log | awk 'NR%10==0' | sed 's/.*step \([0-9]*\):.*held-out\[:200\] \(.*\)/\1:\2/' | tr '\n' ' '; echo; grep -h '^{' $R/s$s.log | cut -c1-260; done
  tar czf "$OUT/results2.tar.gz" -C "$R" .
  exit 0
fi
start=$(date +%s)
timeout 470 $RAFT --workers 5 --max-minutes 6.3 --out $R/raft_small_large.pt > $R/raft.log 2>&1 &
for s in 0 1 2; do
  timeout 480 $TS --attention divided --steps 20000 --seed $s --workers 2 --out $R/ts_divided_20k_s$s.pt > $R/ts_divided_20k_s$s.log 2>&1 &
  timeout 480 $TS --attention divided_depth2 --steps 20000 --seed $s --workers 2 --out $R/ts_depth2_20k_s$s.pt > $R/ts_depth2_20k_s$s.log 2>&1 &
  ( timeout 200 $TS --attention rotate_only_zero --seed $s --workers 1 --out $R/ts_rot_s$s.pt > $R/ts_rot_s$s.log 2>&1 &&
    timeout 280 $TS --attention divided --seed $s --workers 1 --init $R/ts_rot_s$s.pt --out $R/ts_curriculum_s$s.pt > $R/ts_curriculum_s$s.log 2>&1 ) &
done
while [ $(jobs -r | wc -l) -gt 0 ]; do
  sleep 30; echo "t=$(( $(date +%s) - start ))s running=$(jobs -r | wc -l) $(nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader)"
  tail -qn1 $R/raft.log | cut -c1-100
done
wait
for f in $R/*.log; do echo "== $f"; grep -h '^{' "$f" | $PY -c "import sys,json; [print({k: d[k] for k in ('held_out_acc','pair_acc','steps','wall_s') if k in d}) for d in map(json.loads, sys.stdin)]"; tail -n2 "$f" | cut -c1-200; done
tar czf "$OUT/results.tar.gz" -C "$R" .
echo "total $(( $(date +%s) - start )) s"
