"""The appearance models: shipped re-ID weights, the histogram baseline, the training loss."""

import numpy as np
import pytest
import torch

from companion.synthetic.street import make_street_scene
from companion.tracking.reid import (ColorHistogramEmbedder, ReIDEmbedder, batch_hard_triplet_loss,
                                     crop_boxes, default_weights_path, get_embedder, rank1,
                                     split_query_gallery, street_crops)


def test_shipped_weights_are_small_and_load():
    path = default_weights_path()
    assert path.exists() and path.stat().st_size < 2_000_000
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    assert ckpt["log"]["heldout_rank1"]["reid_cnn"] >= ckpt["log"]["heldout_rank1"]["colour_histogram"]


@pytest.mark.parametrize("emb", [ReIDEmbedder(), ColorHistogramEmbedder()], ids=["cnn", "hist"])
def test_embedders_give_unit_rows(emb):
    frame = np.random.default_rng(0).integers(0, 255, size=(120, 160, 3), dtype=np.uint8)
    boxes = np.array([[10, 10, 40, 90], [100, 20, 150, 119], [150, 100, 200, 140]], float)  # last one clipped
    f = emb(frame, boxes)
    assert f.shape == (3, emb.dim) and f.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(f, axis=1), 1.0, atol=1e-5)
    assert emb(frame, np.zeros((0, 4))).shape == (0, emb.dim)


def test_learned_embedding_beats_histogram_on_a_heldout_scene():
    scene = make_street_scene(1003, num_frames=120, num_people=12)
    c, ids, fr = street_crops(scene, min_visibility=0.5)
    q, g = split_query_gallery(ids, fr)
    r = {}
    for name, e in [("cnn", ReIDEmbedder()), ("hist", ColorHistogramEmbedder())]:
        emb = e.embed_crops(c)
        r[name] = rank1(emb[q], ids[q], emb[g], ids[g])
    assert r["cnn"] >= 0.95 and r["cnn"] >= r["hist"], r


def test_crop_boxes_and_errors():
    frame = np.zeros((50, 60, 3), np.uint8)
    frame[10:30, 20:30] = 255
    c = crop_boxes(frame, np.array([[20, 10, 30, 30], [70, 70, 90, 90]]))
    assert c.shape == (2, 64, 32, 3) and c[0].min() == 255 and c[1].max() == 0
    with pytest.raises(ValueError, match="RGB"):
        crop_boxes(np.zeros((10, 10)), np.zeros((1, 4)))
    with pytest.raises(ValueError, match="embedder"):
        get_embedder("nope")
    with pytest.raises(FileNotFoundError, match="train_reid"):
        ReIDEmbedder(weights="/nonexistent/reid.pt")


def test_batch_hard_triplet_loss_known_answers():
    e = torch.nn.functional.normalize(torch.tensor([[1.0, 0], [1, 0.01], [0, 1], [0.01, 1]]), dim=1)
    y = torch.tensor([0, 0, 1, 1])
    assert batch_hard_triplet_loss(e, y, margin=0.3).item() == pytest.approx(0.0)
    y_bad = torch.tensor([0, 1, 0, 1])  # positives far apart, negatives close
    expected = []
    for a in range(4):  # loop reference: hardest positive, hardest negative per anchor
        dp = max(torch.dist(e[a], e[p]).item() for p in range(4) if p != a and y_bad[p] == y_bad[a])
        dn = min(torch.dist(e[a], e[n]).item() for n in range(4) if y_bad[n] != y_bad[a])
        expected.append(max(0.0, dp - dn + 0.3))
    assert batch_hard_triplet_loss(e, y_bad, margin=0.3).item() == pytest.approx(np.mean(expected), abs=1e-5)
    assert np.mean(expected) > 1.5
