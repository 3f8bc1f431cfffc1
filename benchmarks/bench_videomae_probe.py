#!/usr/bin/env python3
"""What the tiny VideoMAE's pretraining buys (26.3.4): reconstruction of held-out clips and a
frozen-feature linear probe over label counts, pretrained encoder vs the same encoder before
pretraining.

    python benchmarks/bench_videomae_probe.py            # the shipped weights (~20 CPU s)
    python benchmarks/bench_videomae_probe.py --train    # pretrain again first (~4 CPU-min), then the same

Protocol (``scripts/train_videomae_tiny.py``; held-out seeds only): reconstruction error on the
masked tubelets of 200 held-out clips (seed 2, fixed tube masks) against painting every hidden
pixel in the clip's mean visible colour; linear probe (logistic regression on the token-averaged
encoder output) fitted on k = 1 ... 64 labelled clips per class (seed 12, up to 4 disjoint draws
averaged), scored on 800 held-out clips (seed 2).

Checks (exit 1 if one fails): the shipped curve is reproduced exactly from the shipped weights
(``--train``: skipped); pretraining lowered the held-out reconstruction error of its initial
weights. The comparison with the no-learning guess and the probe curve are printed as measured,
with no target: they are the experiment's result. Shipped run (60 CPU s, 1,269 steps, pixel
target): masked MSE 0.0209 vs 0.1385 initial and 0.0171 for the mean-colour guess (ratio 1.23:
not yet past the trivial guess); probe near chance for both encoders at every k (0.117-0.173
pretrained, 0.122-0.161 initial, chance 0.125; naming the pair 0.25-0.28, chance 0.25) — the regime where
pretraining cannot help (notebook 26_3_4).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("train_videomae_tiny", ROOT / "scripts" / "train_videomae_tiny.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", action="store_true", help="pretrain from scratch first (does not overwrite the weights)")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    mod = _script()
    from companion.models.videomae import videomae

    if a.train:
        out = Path("/tmp") / "bench_videomae_probe.pt"
        mod.PATH = out
        mod.main(["--quiet"])
    ckpt = torch.load(mod.PATH, weights_only=False)
    rep = ckpt["report"]
    models = {}
    for name, key in (("pretrained", "state_dict"), ("scratch", "initial_state_dict")):
        m = videomae(**rep["recipe"], norm_pix_loss=rep["target"] == "norm")
        m.load_state_dict(ckpt[key])
        models[name] = m.eval()
    failures = []
    recon = {name: mod.reconstruction_errors(m) for name, m in models.items()}
    print(f"pretraining: {rep['pretrain_steps']} steps, {rep['pretrain_cpu_s']:.0f} CPU s, target {rep['target']}, "
          f"loss {rep['pretrain_loss_first']:.4f} -> {rep['pretrain_loss_last']:.4f}")
    print(f"\n{'held-out reconstruction':24s} {'masked MSE':>10} {'mean-colour guess':>17} {'ratio':>6}")
    for name, e in recon.items():
        print(f"{name:24s} {e['model_mse']:>10.4f} {e['visible_mean_mse']:>17.4f} {e['ratio']:>6.2f}")
    if recon["pretrained"]["model_mse"] >= recon["scratch"]["model_mse"]:
        failures.append("pretraining did not lower the held-out reconstruction error of its initial weights")
    probe = mod.probe_curve({name: m.encoder for name, m in models.items()})
    print(f"\n{'labels/class':>12} {'pretrained':>10} {'scratch':>8} {'gain':>7}   {'pair: pretr.':>12} {'scratch':>8}"
          "   (linear probe, 800 held-out clips; 'pair': the right reversal pair, either direction)")
    for k, p, s, pp, sp in zip(probe["labels_per_class"], probe["pretrained"], probe["scratch"],
                               probe["pretrained_pair"], probe["scratch_pair"]):
        print(f"{k:>12} {p:>10.3f} {s:>8.3f} {p - s:>+7.3f}   {pp:>12.3f} {sp:>8.3f}")
    if not a.train and probe != rep["probe"]:
        failures.append(f"probe curve {probe} differs from the checkpoint's {rep['probe']}")
    for f in failures:
        print("CHECK FAILED:", f)
    print("OK" if not failures else f"{len(failures)} check(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
