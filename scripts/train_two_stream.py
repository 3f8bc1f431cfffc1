#!/usr/bin/env python3
"""Two-stream done fairly: ImageNet-pretrained streams, cross-modality init, DIS flow, late fusion.

    python scripts/train_two_stream.py            # trains both streams, writes the shipped weights
    python scripts/train_two_stream.py --no-save

* data: 8-frame **64×64** synthetic action clips (the two-stream model is cheap — one frame and one
  flow stack per clip — so it gets twice the resolution of the 3D CNNs' 32×32, which also gives
  the flow method more pixels), 1,536 training clips (seed 0), 512 held-out clips (seed 1);
* flow: OpenCV DIS (medium preset) on the L = 6 frame pairs of the clip's middle 7 frames, each
  field's mean removed (``companion.models.flow_stack``);
* spatial stream: ImageNet MobileNetV2 (feature blocks [:14]) on the middle frame of the window;
* temporal stream: the same pretrained network, first convolution cross-modality initialised (RGB
  kernel averaged over colour, copied to the 2L = 12 flow channels), no ImageNet normalisation;
* each stream trained on its own (as in the paper) with ``fit``: AdamW lr 1e-3, weight decay 1e-4,
  cosine, batch 32, 4 epochs, seed 0, one thread; then late fusion = mean of the two softmaxes.

The weights are stored in float16 (half the size) and every reported figure is measured *after*
the float16 round trip, i.e. on exactly the shipped model. Also records the mean flow magnitude
per class: the explanation of what the temporal stream cannot see.
Writes ``companion/weights/two_stream_mobilenet_v2_actions.pt``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from companion.config import seed_everything
from companion.models.mobilenet_video import mobilenet_v2_classifier
from companion.models.two_stream import StreamInputs, TwoStream, TwoStreamClips
from companion.synthetic.actions import ActionClips
from companion.training import fit

OUT = Path(__file__).resolve().parents[1] / "companion" / "weights" / "two_stream_mobilenet_v2_actions.pt"
SETUP = dict(frames=8, size=64, num_flows=6, flow="dis", n_train=1536, train_seed=0, n_test=512, test_seed=1,
             epochs=4, batch_size=32, lr=1e-3, weight_decay=1e-4, seed=0, depth=14)


def build(s: dict = SETUP) -> TwoStream:
    seed_everything(s["seed"])
    return TwoStream(mobilenet_v2_classifier(8, depth=s["depth"], pretrained=True), s["num_flows"])


def data(split: str, s: dict = SETUP, n: int | None = None, progress: bool = False) -> TwoStreamClips:
    clips = ActionClips(n or s[f"n_{split}"], s[f"{split}_seed"], s["frames"], s["size"])
    return TwoStreamClips(clips, s["num_flows"], s["flow"], progress=progress)


def to_half_and_back(model: torch.nn.Module) -> dict:
    """Round every floating tensor of the state dict to float16 (what is shipped); load it back."""
    half = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in half.items()})
    return half


@torch.no_grad()
def scores(model: TwoStream, test, batch_size: int = 64) -> dict:
    """Held-out accuracy, per-class accuracy and confusion of each stream and of the late fusion,
    from one pass of both streams (the fusion is :meth:`TwoStream.forward`'s, from the same logits)."""
    model.eval()
    streams, labels = ([], []), []
    for s in range(0, len(test), batch_size):
        items = [test[i] for i in range(s, min(len(test), s + batch_size))]
        a, b = model.stream_logits(torch.stack([x for x, _ in items]))
        streams[0].append(a), streams[1].append(b)
        labels += [y for _, y in items]
    a, b, y = torch.cat(streams[0]), torch.cat(streams[1]), torch.tensor(labels)
    w = model.fusion_weights
    fused = w[0] * a.softmax(1) + w[1] * b.softmax(1)
    out = {}
    for name, logits in (("spatial", a), ("temporal", b), ("fusion", fused)):
        conf = torch.zeros(8, 8, dtype=torch.long)
        conf.index_put_((y, logits.argmax(1)), torch.ones(len(y), dtype=torch.long), accumulate=True)
        out[name] = {"acc": conf.diag().sum().item() / len(y),
                     "per_class": (conf.diag() / conf.sum(1).clamp_min(1)).tolist(), "confusion": conf.numpy()}
    return out


def flow_magnitude_per_class(ds) -> list[float]:
    """Mean |flow| (px) over the 2L channels and all pixels, per class."""
    tot, cnt = torch.zeros(8), torch.zeros(8)
    for i in range(len(ds)):
        x, y = ds[i]
        f = x[3:].reshape(-1, 2, *x.shape[1:])
        tot[y] += f.norm(dim=1).mean()
        cnt[y] += 1
    return (tot / cnt.clamp_min(1)).tolist()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--no-save", action="store_true")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    s = SETUP
    c0 = time.process_time()
    train, test = data("train"), data("test")
    for ds in (train, test):
        for i in range(len(ds)):
            ds[i]
    flow_cpu = time.process_time() - c0
    model = build(s)
    hist, cpu = {}, {}
    for which, name in ((0, "spatial"), (1, "temporal")):
        net = model.rgb if which == 0 else model.flow
        c0 = time.process_time()
        h = fit(net, StreamInputs(train, which), None, epochs=s["epochs"],
                batch_size=s["batch_size"], lr=s["lr"], weight_decay=s["weight_decay"], seed=s["seed"],
                progress=False, desc=name)
        cpu[name], hist[name] = time.process_time() - c0, h.as_dict()
    model.eval()
    half = to_half_and_back(model)
    sc = scores(model, test)
    report = {k: {"acc": v["acc"], "per_class": v["per_class"], "confusion": v["confusion"]} for k, v in sc.items()}
    mags = flow_magnitude_per_class(test)
    print(json.dumps({"acc": {k: round(v["acc"], 4) for k, v in report.items()},
                      "per_class": {k: [round(x, 3) for x in v["per_class"]] for k, v in report.items()},
                      "flow_mag": [round(m, 3) for m in mags], "train_cpu_s": {k: round(v, 1) for k, v in cpu.items()},
                      "flow_cpu_s": round(flow_cpu, 1)}), flush=True)
    if not a.no_save:
        torch.save({"state_dict": half, "setup": s, "scores": report, "history": hist, "train_cpu_s": cpu,
                    "flow_cpu_s": flow_cpu, "flow_magnitude_per_class": mags}, OUT)
        print("wrote", OUT)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
