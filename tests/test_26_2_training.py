"""The training loop: seeded, learns, evaluates per class, and runs unchanged under torchrun
(2 processes with DistributedDataParallel/gloo agree with the 1-process run)."""

import os
import shutil
import subprocess
import sys

import pytest
import torch

from companion.synthetic.actions import ActionClips
from companion.training import History, evaluate, fit, tiny3d




def test_fit_is_seeded_and_history_complete():
    ds = ActionClips(32, seed=0, num_frames=4, size=32, cache=True)
    val = ActionClips(16, seed=1, num_frames=4, size=32, cache=True)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        m = tiny3d(width=4)
        h = fit(m, ds, val, epochs=2, batch_size=8, lr=1e-2, seed=3, progress=False)
        runs.append((h, m.state_dict()))
    (h, a), (_, b) = runs
    assert isinstance(h, History) and h.steps == 8 and h.world_size == 1
    assert len(h.train_loss) == len(h.train_acc) == len(h.val_acc) == len(h.epoch_time_s) == 2
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)
    assert runs[0][0].train_loss == runs[1][0].train_loss


def test_evaluate_confusion_and_per_class():
    class Const(torch.nn.Module):  # always predicts class 1
        def forward(self, x):
            return torch.tensor([[0.0, 1.0, 0.0]]).repeat(len(x), 1)

    ds = ActionClips(9, seed=0, num_frames=3, size=16, classes=[0, 1, 2])
    ev = evaluate(Const(), ds, batch_size=4)
    assert ev["n"] == 9 and abs(ev["acc"] - 1 / 3) < 1e-9
    assert ev["per_class"] == [0.0, 1.0, 0.0]
    assert ev["confusion"][:, 1].tolist() == [3, 3, 3]


def test_fit_bad_arguments():
    ds = ActionClips(8, seed=0, num_frames=3, size=16)
    with pytest.raises(ValueError, match="epochs"):
        fit(tiny3d(), ds, epochs=0, batch_size=4, lr=1e-3, seed=0)
    with pytest.raises(ValueError, match="lr"):
        fit(tiny3d(), ds, epochs=1, batch_size=4, lr=-1, seed=0)


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed unavailable")
def test_torchrun_two_processes_agree_with_one(tmp_path):
    args = ["-m", "companion.training", "--model", "tiny3d", "--clips", "48", "--frames", "4", "--size", "32",
            "--epochs", "2", "--batch-size", "8", "--lr", "5e-3", "--seed", "0", "--quiet"]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    one = tmp_path / "one.pt"
    two = tmp_path / "two.pt"
    r = subprocess.run([sys.executable, *args, "--out", str(one)], env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    r = subprocess.run([*torchrun, *args, "--out", str(two)], env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-3000:])
    a, b = torch.load(one), torch.load(two)
    assert a["history"]["world_size"] == 1 and b["history"]["world_size"] == 2
    diffs = {k: (a["state_dict"][k] - b["state_dict"][k]).abs().max().item() for k in a["state_dict"]}
    moved = max((a["state_dict"][k] - tiny_init()[k]).abs().max().item() for k in a["state_dict"])
    assert moved > 1e-3  # training really changed the weights
    print(f"DDP 2 processes vs 1: max |Δparam| {max(diffs.values()):.2e}, loss "
          f"{a['history']['train_loss']} vs {b['history']['train_loss']}")
    assert max(diffs.values()) < 1e-5, diffs
    for la, lb in zip(a["history"]["train_loss"], b["history"]["train_loss"]):
        assert abs(la - lb) < 1e-5


def tiny_init():
    from companion.config import seed_everything

    seed_everything(0)
    return tiny3d().state_dict()
