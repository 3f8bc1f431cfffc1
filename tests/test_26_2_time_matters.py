"""The section's claim at test size: averaged per-frame 2D scores are blind to the direction of
time (≤ 50% inside every reversal pair, for any weights), while a small 3D CNN learns it.

The full-size numbers (8 classes, 2D ≤ 0.60 on pairs, 3D ≥ 0.95 held-out, ≤ 3 min each) are
measured by ``benchmarks/bench_time_matters.py`` and notebook 26.2.1."""

import pytest
import torch

from companion.models import frame_cnn, video_resnet
from companion.synthetic.actions import REVERSAL_PAIRS, ActionClips
from companion.training import evaluate, fit




def _reversal_set(n=16, T=6):
    """Clips of the first class of each pair and their exact reversals (= the second class)."""
    ds = ActionClips(n, seed=9, num_frames=T, size=32, classes=[a for a, _ in REVERSAL_PAIRS])
    xs, ys = [], []
    for i in range(n):
        clip, k = ds[i]
        a, b = REVERSAL_PAIRS[k]
        xs += [clip, clip.flip(1)]
        ys += [a, b]
    return torch.stack(xs), torch.tensor(ys)


def test_trained_per_frame_model_is_at_most_half_right_on_reversal_pairs():
    torch.manual_seed(0)
    train = ActionClips(48, seed=0, num_frames=6, size=32, cache=True)
    model = frame_cnn(num_classes=8, widths=(8, 8, 16, 16))
    fit(model, train, epochs=2, batch_size=16, lr=3e-3, seed=0, progress=False)
    x, y = _reversal_set()
    with torch.no_grad():
        logits = model(x)
    torch.testing.assert_close(logits[0::2], logits[1::2], rtol=1e-4, atol=1e-4)  # same scores, clip vs reversal
    correct = 0
    for i in range(0, len(y), 2):
        a, b = y[i].item(), y[i + 1].item()
        pick = logits[i, [a, b]].argmax().item()
        pick_rev = logits[i + 1, [a, b]].argmax().item()
        assert pick == pick_rev
        correct += (pick == 0) + (pick_rev == 1)
    assert correct / len(y) <= 0.5


def test_small_3d_cnn_separates_a_reversal_pair():
    """move_left vs move_right: indistinguishable frame by frame, learned by a tiny 3D CNN."""
    torch.manual_seed(0)
    classes = ["move_left", "move_right"]
    train = ActionClips(256, seed=0, num_frames=6, size=32, classes=classes, cache=True)
    test = ActionClips(64, seed=1, num_frames=6, size=32, classes=classes, cache=True)
    model = video_resnet("r3d", num_classes=2, widths=(8, 16, 16, 32))
    fit(model, train, epochs=4, batch_size=16, lr=3e-3, seed=0, progress=False)
    acc = evaluate(model, test)["acc"]
    assert acc >= 0.95, acc
