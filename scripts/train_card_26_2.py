#!/usr/bin/env python3
"""Train the small models of the 26.2 card (notebook 26.2.6) and write their shipped weights.

    python scripts/train_card_26_2.py                 # every family (about 35 CPU-minutes)
    python scripts/train_card_26_2.py r3d c3d         # some of them
    python scripts/train_card_26_2.py r3d --no-save   # measure only

The recipe is ``companion.models.card.RECIPE`` (one thread, seed 0; the weights are a function of
the seed). Writes ``companion/weights/card26_2_<family>.pt`` and prints one JSON line per family.
"""

from __future__ import annotations

import argparse
import json

import torch

from companion.models.card import FAMILIES, train_family


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("families", nargs="*", default=list(FAMILIES), help=f"any of {list(FAMILIES)}")
    p.add_argument("--no-save", action="store_true")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)  # one thread: much faster per CPU-second on a shared machine
    for name in a.families:
        _, rep = train_family(name, save=not a.no_save)
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in rep.items()
                          if k in ("family", "acc", "per_class", "params", "train_cpu_s", "data_cpu_s")},
                         default=lambda v: [round(x, 3) for x in v]), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
