#!/usr/bin/env python3
"""What the tiny VideoMAE's pretraining buys, step by step (26.3.4): held-out reconstruction
against two no-learning guesses, a frozen linear probe with 4 and 16 labels per class, and
fine-tuning with the same labels — pretrained encoder vs the same encoder at its initialisation.

    python benchmarks/bench_videomae_probe.py            # re-measure the shipped snapshots (~4 CPU-min)
    python benchmarks/bench_videomae_probe.py --quick    # first and last snapshot, probe + one fine-tune (38 CPU s measured)
    python benchmarks/bench_videomae_probe.py --train    # pretrain again first (~3 CPU-min more; does not overwrite)
    python benchmarks/bench_videomae_probe.py --figure notebooks/figures/videomae_curve.png

Protocol (``scripts/train_videomae_tiny.py``; held-out seeds only): one pretraining run of 3,000
steps snapshotted at 0, 250, 500, 1,000, 2,000 and 3,000 steps. Per snapshot: masked-tubelet MSE
on 200 held-out clips (seed 2, fixed tube masks) against painting every hidden pixel in the clip's
mean visible colour and against copying the nearest visible tubelet, overall and on the tubelets
at *moving* positions only; linear probe (logistic regression) on frozen features of k = 4 and 16
labelled clips per class, three disjoint draws (seeds 0-2), two poolings (``tokens``: the token
average; ``slots``: one average per time slot, in time order), scored on 400 held-out clips.
Fine-tuning (encoder + head, 200 steps) from the last snapshot and from step 0 on the same draws.

Checks (exit 1 if one fails): the shipped curve and fine-tuning table are reproduced exactly
from the shipped snapshots (``--train``: skipped); pretraining lowered the held-out
reconstruction error of its initial weights; the last snapshot beats both no-learning guesses on
all masked tubelets. Then the checks that pin down the regime the notebook describes: on the
*moving* tubelets the last snapshot beats the mean-colour guess by less than 10 %; the
token-average probe (every snapshot) and fine-tuning (both encoders) stay within 0.05 of chance
(0.125); the slot probe at k=16 rises more than 0.05 above step 0 somewhere mid-run and is back
within 0.05 of step 0 at the last snapshot. If a change to the recipe makes pretraining pay off,
these fail and the notebook's explanation has to change with them.
"""

from __future__ import annotations

import argparse
import importlib.util
import resource
import statistics
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
CHANCE = 1 / 8


def _script():
    spec = importlib.util.spec_from_file_location("train_videomae_tiny", ROOT / "scripts" / "train_videomae_tiny.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _ms(v) -> str:
    return f"{statistics.mean(v):.3f}±{statistics.pstdev(v):.3f}"


def print_curve(curve: dict, ks) -> None:
    head = " ".join(f"{'tok k=' + k:>12} {'slot k=' + k:>12}" for k in ks)
    print(f"\n{'step':>5} {'MSE':>7} {'mean':>7} {'copy':>7} | {'moving:':>7} {'MSE':>6} {'mean':>7} | {head}")
    for step, e in curve.items():
        r, mv, p = e["reconstruction"], e["reconstruction"]["moving"], e["probe"]
        probes = " ".join(f"{_ms(p['tokens'][k]):>12} {_ms(p['slots'][k]):>12}" for k in ks)
        print(f"{step:>5} {r['model_mse']:>7.4f} {r['visible_mean_mse']:>7.4f} {r['copy_mse']:>7.4f} | "
              f"{'':>7} {mv['model_mse']:>6.4f} {mv['visible_mean_mse']:>7.4f} | {probes}")


def draw_figure(curve: dict, ft: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from companion.viz import plot_videomae_curve

    fig = plot_videomae_curve(curve, ft)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    print(f"wrote {path}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", action="store_true", help="pretrain from scratch first (does not overwrite the weights)")
    ap.add_argument("--quick", action="store_true", help="first and last snapshot only, one fine-tuning seed at k=16")
    ap.add_argument("--figure", type=Path, help="also draw the curve into this PNG")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    mod = _script()
    if a.train:
        out = Path("/tmp") / "bench_videomae_probe.pt"
        mod.main(["--quiet", "--no-finetune", "--out", str(out)])   # the table below fine-tunes
        ckpt = torch.load(out, weights_only=False)
    else:
        ckpt = torch.load(mod.PATH, weights_only=False)
    rep, snaps = ckpt["report"], ckpt["snapshots"]
    recipe, target = rep["recipe"], rep["target"]
    steps = sorted(snaps)
    if a.quick:
        steps = [steps[0], steps[-1]]
    print(f"pretraining: {rep['pretrain_steps']} steps, {rep['pretrain_cpu_s']:.0f} CPU s, target {target}, "
          f"mask ratio {recipe['mask_ratio']}; snapshots at {sorted(snaps)}")
    curve = {str(s): mod.evaluate_snapshot(snaps[s], recipe, target) for s in steps}
    ks = [str(k) for k in mod.LABELS_PER_CLASS]
    print("held-out reconstruction (masked-tubelet MSE, 200 clips) vs the mean-visible-colour and copy-nearest guesses;"
          "\nlinear probe accuracy (mean±sd over 3 label draws, 400 held-out clips, chance 0.125)")
    print_curve(curve, ks)
    last = str(max(snaps))
    if a.quick:
        ft = {name: {"16": [mod.finetune(snaps[s], 16, 0, recipe, target)]}
              for name, s in (("pretrained", max(snaps)), ("scratch", 0))}
    else:
        ft = mod.finetune_curve({"pretrained": snaps[max(snaps)], "scratch": snaps[0]}, recipe=recipe, target=target)
    print(f"\n{'fine-tuning':>12} {'pretrained':>12} {'scratch':>12} {'gain':>7}   (all weights, 200 steps, 400 held-out clips)")
    for k in ft["pretrained"]:
        p, s = ft["pretrained"][k], ft["scratch"][k]
        print(f"{'k=' + k:>12} {_ms(p):>12} {_ms(s):>12} {statistics.mean(p) - statistics.mean(s):>+7.3f}")

    failures = []
    if not a.train:
        for s in curve:
            if curve[s] != rep["curve"][s]:
                failures.append(f"snapshot {s}: re-measured {curve[s]} differs from the checkpoint's {rep['curve'][s]}")
        for name in ft:
            for k in ft[name]:
                if ft[name][k] != rep["finetune"][name][k][:len(ft[name][k])]:
                    failures.append(f"fine-tuning {name} k={k}: {ft[name][k]} differs from {rep['finetune'][name][k]}")
    r0, rl = curve[str(steps[0])]["reconstruction"], curve[last]["reconstruction"]
    if rl["model_mse"] >= r0["model_mse"]:
        failures.append("pretraining did not lower the held-out reconstruction error of its initial weights")
    if rl["model_mse"] >= min(rl["visible_mean_mse"], rl["copy_mse"]):
        failures.append(f"the last snapshot ({rl['model_mse']:.4f}) does not beat both no-learning guesses "
                        f"(mean colour {rl['visible_mean_mse']:.4f}, copy {rl['copy_mse']:.4f})")
    mv = rl["moving"]
    if mv["model_mse"] < 0.9 * mv["visible_mean_mse"]:
        failures.append(f"on moving tubelets the model ({mv['model_mse']:.4f}) now beats the mean-colour guess "
                        f"({mv['visible_mean_mse']:.4f}) by more than 10 %: the regime changed, update notebook 26_3_4")
    near = lambda v, ref=CHANCE: abs(statistics.mean(v) - ref) <= 0.05
    regime = [(f"token probe, step {s}, k={k}", curve[s]["probe"]["tokens"][k]) for s in curve for k in ks]
    regime += [(f"fine-tuning {n}, k={k}", ft[n][k]) for n in ft for k in ft[n]]
    for name, accs in regime:
        if not near(accs):
            failures.append(f"{name}: {_ms(accs)} is no longer within 0.05 of chance: the regime changed, "
                            "update notebook 26_3_4")
    slot0, slot_last = curve[str(steps[0])]["probe"]["slots"]["16"], curve[last]["probe"]["slots"]["16"]
    if not near(slot_last, statistics.mean(slot0)):
        failures.append(f"slot probe k=16 at the last snapshot ({_ms(slot_last)}) is no longer within 0.05 of "
                        f"step 0 ({_ms(slot0)}): update notebook 26_3_4")
    mid = [statistics.mean(curve[s]["probe"]["slots"]["16"]) for s in curve if s not in (str(steps[0]), last)]
    if mid and max(mid) < statistics.mean(slot0) + 0.05:
        failures.append(f"the slot probe's mid-run gain over step 0 (peak {max(mid):.3f} vs {statistics.mean(slot0):.3f}) "
                        "is gone: update notebook 26_3_4")
    if a.figure and not a.quick:
        draw_figure(curve, ft, a.figure)
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    print(f"\n{cpu.ru_utime + cpu.ru_stime:.0f} CPU s in all")
    for f in failures:
        print("CHECK FAILED:", f)
    print("OK" if not failures else f"FAIL: {len(failures)} check(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
