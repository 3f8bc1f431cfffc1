"""The street-adapted re-ID embedding: shapes, determinism, shipped weights, the label-free miner
(never past frame 400) and its contrastive training."""

import numpy as np
import pytest
import torch

from companion.tracking import reid_learned as rl
from companion.tracking.reid import separation


def _features_or_skip():
    from companion.errors import AssetUnavailableError

    try:
        return rl.StripeFeatures()
    except (AssetUnavailableError, FileNotFoundError) as exc:
        pytest.skip(f"needs the ImageNet MobileNetV2 weights in the data cache: {exc}")


@pytest.fixture(scope="module")
def features():
    return _features_or_skip()


def test_shipped_head_file_matches_its_sha256():
    from companion.data import sha256sum

    assert rl.HEAD_SHA256 is not None
    assert sha256sum(rl.default_head_path()) == rl.HEAD_SHA256
    head = rl.load_head()
    dim = rl.STRIPES * (32 + 96)  # MobileNetV2 block 6 (32 ch) and block 13 (96 ch), per stripe
    assert head.weight.shape == (dim, dim)


def test_damaged_head_is_refused(tmp_path, monkeypatch):
    bad = tmp_path / "reid_street_head.pt"
    bad.write_bytes(rl.default_head_path().read_bytes()[:-1] + b"x")
    monkeypatch.setattr(rl, "default_head_path", lambda: bad)
    with pytest.raises(ValueError, match="sha256"):
        rl.load_head()
    with pytest.raises(FileNotFoundError, match="train_street_reid"):
        rl.load_head(tmp_path / "missing.pt")


def test_embedder_rows_are_unit_and_deterministic(features):
    emb = rl.LearnedEmbedder(features=features)
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, size=(240, 320, 3), dtype=np.uint8)
    boxes = np.array([[10, 20, 40, 110], [100, 50, 130, 160], [200, 0, 260, 239.0]])
    a, b = emb(frame, boxes), emb(frame, boxes)
    assert a.shape == (3, emb.dim) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(a, b)
    # one box alone embeds as in the batch (no batch statistics anywhere)
    np.testing.assert_allclose(emb(frame, boxes[1:2])[0], a[1], atol=1e-5)
    assert emb(frame, np.zeros((0, 4))).shape == (0, emb.dim)
    with pytest.raises(ValueError, match="RGB"):
        emb.embed_crops(np.zeros((2, 128, 64), np.uint8))


def test_identity_head_is_the_stripes_themselves(features):
    crops = np.random.default_rng(1).integers(0, 256, size=(4, 128, 64, 3), dtype=np.uint8)
    x = rl.stripe_features(crops, features)
    assert x.shape == (4, features.dim)
    # each of the 2 taps x STRIPES bands is unit-norm
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), np.sqrt(2 * rl.STRIPES), atol=1e-4)
    e = rl.LearnedEmbedder(head="none", features=features, flip=False).embed_crops(crops)
    np.testing.assert_allclose(e, x / np.linalg.norm(x, axis=1, keepdims=True), atol=1e-6)
    # with flip averaging a crop and its mirror image embed the same
    emb = rl.LearnedEmbedder(features=features)
    np.testing.assert_allclose(emb.embed_crops(crops), emb.embed_crops(crops[:, :, ::-1]), atol=1e-5)


def test_info_nce_known_answer_and_masking():
    e = torch.nn.functional.normalize(torch.tensor([[1.0, 0], [1, 0.2], [0, 1], [0.1, 1]]), dim=1)
    lab = torch.tensor([0, 0, 1, 1])
    grp = torch.tensor([0, 0, 0, 0])
    tau = 0.5
    sim = (e @ e.T / tau).numpy()
    want = []
    for i, p in enumerate([1, 0, 3, 2]):
        others = [j for j in range(4) if j != i]
        want.append(-(sim[i, p] - np.log(np.exp(sim[i, others]).sum())))
    assert float(rl.info_nce(e, lab, grp, tau)) == pytest.approx(float(np.mean(want)), rel=1e-5)
    # tracks of different groups are never contrasted: one track per group -> nothing to learn
    assert float(rl.info_nce(e, lab, torch.tensor([0, 0, 1, 1]), tau)) == 0.0


def _toy_tracklets(seed=0, tracks=12, frames=60, dim=32):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(tracks, dim))
    track, frame, visible = [], [], {}
    for t in range(tracks):
        start = (t // 3) * 15
        for f in range(start, min(frames, start + 30)):
            track.append(t)
            frame.append(f)
            visible.setdefault(f, []).append(t)
    track, frame = np.array(track), np.array(frame)
    feats = centres[track] + 1.5 * rng.normal(size=(len(track), dim))
    return feats.astype(np.float32), track, frame, {f: np.array(v) for f, v in visible.items()}


def test_contrastive_batch_contrasts_only_tracks_seen_together():
    feats, track, frame, visible = _toy_tracklets()
    rng = np.random.default_rng(0)
    for _ in range(20):
        idx, lab, grp = rl.contrastive_batch(track, frame, visible, rng, groups=4)
        assert len(idx) % 2 == 0 and np.all(track[idx] == lab)
        np.testing.assert_array_equal(lab[0::2], lab[1::2])       # anchor / positive pairs
        for g in np.unique(grp):
            ts = np.unique(lab[grp == g])
            fs = frame[idx[grp == g]]
            # every pair of tracks in a group is visible in one common frame
            common = [f for f, v in visible.items() if set(ts) <= set(v.tolist())]
            assert common, (ts, fs)
    with pytest.raises(ValueError, match="two mined tracks"):
        rl.contrastive_batch(np.zeros(5, int), np.arange(5), {f: np.array([0]) for f in range(5)}, rng)


def test_tiny_training_lowers_the_loss_and_separates_tracks():
    feats, track, frame, visible = _toy_tracklets()
    head, curve = rl.train_head(feats, track, frame, visible, steps=80, lr=1e-2, reg=1e-4, seed=0)
    assert np.mean(curve[-10:]) < 0.8 * np.mean(curve[:10])
    e0 = feats / np.linalg.norm(feats, axis=1, keepdims=True)
    with torch.no_grad():
        e1 = torch.nn.functional.normalize(head(torch.from_numpy(feats)), dim=1).numpy()
    assert separation(e1, track)[1] > separation(e0, track)[1]
    # deterministic for a seed
    head2, curve2 = rl.train_head(feats, track, frame, visible, steps=80, lr=1e-2, reg=1e-4, seed=0)
    assert curve == curve2 and torch.equal(head.weight, head2.weight)


def test_miner_never_reads_past_its_stop_frame(street_clip_path, monkeypatch):
    """Mining stops at ``stop``: no decoded frame, no crop and no visible-track frame >= stop.
    And it mines the tracker's own tracks: no stitching, no re-identification and no offline
    identity stage (which would link tracks with the very embedding being trained)."""
    import companion.io as cio
    import companion.lab.pipeline as lp

    seen, runs = [], []
    real_run = lp.run_lab

    def spy_run(*a, **kw):
        runs.append(kw)
        return real_run(*a, **kw)

    monkeypatch.setattr(lp, "run_lab", spy_run)
    real = cio.iter_frames

    def spy(path, **kw):
        for k, f in enumerate(real(path, **kw)):
            seen.append(kw.get("start", 0) + k)
            yield f

    monkeypatch.setattr(cio, "iter_frames", spy)
    try:
        m = rl.mine_tracklets(street_clip_path, stop=40, min_len=3, cache=False)
    except Exception as exc:  # the detector's weights are not in the cache
        if "weights" in str(exc).lower() or "unavailable" in str(exc).lower():
            pytest.skip(str(exc))
        raise
    assert seen and max(seen) == 39
    assert len(runs) == 1 and runs[0]["stitch"] is False and runs[0]["reidentify"] is False
    assert runs[0]["identities"] is False
    assert len(m["track"]) > 0 and m["frame"].max() < 40 and max(m["visible"]) < 40
    assert m["crops"].shape[1:] == (*rl.CROP, 3)
    # a later window: decodes only its own frames and keeps the video's frame numbers
    seen.clear()
    late = rl.mine_tracklets(street_clip_path, start=20, stop=40, min_len=3, cache=False)
    assert min(seen) == 20 and max(seen) == 39
    assert len(late["track"]) > 0 and 20 <= late["frame"].min() and late["frame"].max() < 40
    assert min(late["visible"]) >= 20 and max(late["visible"]) < 40
    # each crop is cut from the video frame its frame number names
    from companion.tracking.reid import crop_boxes

    video = {k + 20: fr for k, fr in enumerate(real(street_clip_path, start=20, stop=40))}
    for i in (0, len(late["track"]) - 1):
        f = int(late["frame"][i])
        assert np.array_equal(late["crops"][i], crop_boxes(video[f], late["box"][i:i + 1], rl.CROP)[0])
    with pytest.raises(ValueError, match="start"):
        rl.mine_tracklets(street_clip_path, start=40, stop=40, cache=False)


def test_late_head_is_the_same_recipe_on_the_other_half(tmp_path, monkeypatch):
    """The second fold's head: sha256-checked, trained on frames >= 400 only, same configuration."""
    from companion.data import sha256sum

    assert sha256sum(rl.late_head_path()) == rl.LATE_HEAD_SHA256
    ckpt = torch.load(rl.late_head_path(), map_location="cpu", weights_only=True)
    assert ckpt["log"]["first_frame"] >= rl.TRAIN_STOP == 400
    assert ckpt["log"]["config"] == rl.CONFIG
    assert rl.load_head(rl.late_head_path()).weight.shape == rl.load_head().weight.shape
    # a damaged copy at that path is refused, naming the command that retrains it
    good = rl.late_head_path().read_bytes()
    monkeypatch.setattr(rl, "default_head_path", lambda: tmp_path / "reid_street_head.pt")
    rl.late_head_path().write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    with pytest.raises(ValueError, match="--late"):
        rl.load_head(rl.late_head_path())


def test_shipped_training_data_came_from_frames_before_400():
    ckpt = torch.load(rl.default_head_path(), map_location="cpu", weights_only=True)
    assert ckpt["log"]["last_frame"] < rl.TRAIN_STOP == 400
    # and with the configuration the module documents (far-away views included)
    assert ckpt["log"]["config"] == rl.CONFIG and rl.CONFIG["far_views"] > 0


def test_separation_known_answer():
    e = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.8, 0.6]], float)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    people = np.array(["a", "a", "b", "b"])
    r1, auc = separation(e, people)
    # nearest: 0->1 (a, hit), 1->0 (hit), 2->3 (hit), 3->1 (a: miss) -> 3/4
    assert r1 == 0.75
    S = e @ e.T
    same = [S[0, 1], S[2, 3]]
    diff = [S[0, 2], S[0, 3], S[1, 2], S[1, 3]]
    assert auc == np.mean([[s > d for d in diff] for s in same])
    with pytest.raises(ValueError, match="at least two"):
        separation(e[:2], np.array(["a", "b"]))


def test_learned_is_offered_to_the_lab_and_deepsort(features, monkeypatch):
    from companion.lab.reidentify import make_embedder
    from companion.tracking.reid import get_embedder

    monkeypatch.setattr(rl, "StripeFeatures", lambda *a, **k: features)
    assert isinstance(make_embedder("learned"), rl.LearnedEmbedder)
    assert isinstance(get_embedder("learned"), rl.LearnedEmbedder)
    with pytest.raises(ValueError, match="learned"):
        make_embedder("deep")


def test_learned_beside_the_histogram_mixes_the_two_similarities(features, monkeypatch):
    """The offline identity stage's default: cosine of two fused vectors = 0.3 x the learned
    embedding's + 0.7 x the colour histogram's, exactly."""
    from companion.lab.reidentify import FusedEmbedder, make_embedder
    from companion.tracking.reid import ColorHistogramEmbedder

    monkeypatch.setattr(rl, "StripeFeatures", lambda *a, **k: features)
    fused = make_embedder("learned+histogram")
    assert isinstance(fused, FusedEmbedder) and isinstance(fused.pretrained, rl.LearnedEmbedder)
    crops = np.random.default_rng(0).integers(0, 256, size=(5, *rl.CROP, 3), dtype=np.uint8)
    F = fused.embed_crops(crops).astype(np.float64)
    L = rl.LearnedEmbedder(features=features).embed_crops(crops).astype(np.float64)
    H = ColorHistogramEmbedder().embed_crops(crops).astype(np.float64)
    np.testing.assert_allclose(np.linalg.norm(F, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(F @ F.T, 0.3 * L @ L.T + 0.7 * H @ H.T, atol=1e-5)


def test_farther_is_a_smaller_person_resized_back_like_a_real_crop():
    import cv2

    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, size=(3, *rl.CROP, 3), dtype=np.uint8)
    # at full size nothing changes
    np.testing.assert_array_equal(rl.farther(crops, [128] * 3, rng, shrink=(1.0, 1.0)), crops)
    # a 128-px box shrunk to a quarter: 32 x 16 pixels, then back up as crop_boxes resizes
    out = rl.farther(crops, [128, 128, 128], rng, shrink=(0.25, 0.25))
    for c, o in zip(crops, out):
        small = cv2.resize(c, (16, 32), interpolation=cv2.INTER_AREA)
        np.testing.assert_array_equal(o, cv2.resize(small, (64, 128), interpolation=cv2.INTER_AREA))
    # the detail is lost: fine stripes average out, the mean colour stays
    stripes = np.zeros((1, *rl.CROP, 3), np.uint8)
    stripes[:, ::2] = 255
    far = rl.farther(stripes, [80], rng, shrink=(0.3, 0.6))
    assert far.std() < 0.2 * stripes.std() and abs(far.mean() - stripes.mean()) < 3
    assert far.shape == stripes.shape and far.dtype == np.uint8
    with pytest.raises(ValueError, match="height per crop"):
        rl.farther(crops, [100, 100], rng)
    with pytest.raises(ValueError, match="shrink"):
        rl.farther(crops, [100] * 3, rng, shrink=(0.6, 0.3))


def test_far_views_feed_only_the_positives():
    feats, track, frame, visible = _toy_tracklets()
    V = np.stack([feats, feats + 0.1 * np.random.default_rng(3).normal(size=feats.shape).astype(np.float32)])
    nan = np.full_like(feats, np.nan)[None]
    kw = dict(steps=30, lr=1e-2, reg=1e-4, seed=0)
    # p_far = 0: the far views are never drawn, training is exactly that on the near views alone
    head0, c0 = rl.train_head(V, track, frame, visible, **kw)
    head1, c1 = rl.train_head(np.concatenate([V, nan]), track, frame, visible, far_views=1, p_far=0.0, **kw)
    assert c0 == c1 and torch.equal(head0.weight, head1.weight)
    # p_far = 1: every positive is drawn from the far view (here NaN, so the loss is NaN)
    _, c2 = rl.train_head(np.concatenate([V, nan]), track, frame, visible, far_views=1, p_far=1.0, **kw)
    assert np.isnan(c2[0])
    with pytest.raises(ValueError, match="far_views"):
        rl.train_head(V, track, frame, visible, far_views=2, p_far=0.5, **kw)


def test_scale_matched_separation_known_answer():
    # one track seen at 50 px then at 100 px; a neighbour track in frame 0
    E = np.array([[1, 0], [1, 0], [0.6, 0.8], [0, 1]], float)
    E /= np.linalg.norm(E, axis=1, keepdims=True)
    track = np.array([0, 0, 0, 1])
    frame = np.array([0, 50, 60, 0])
    heights = np.array([50, 52, 100, 50])
    visible = {0: np.array([0, 1]), 50: np.array([0]), 60: np.array([0])}
    # plain: crop 0's own crops >= 40 frames away are 1 and 2; 1 is identical -> hit (1 query)
    assert rl.track_separation(E, track, frame, visible, gap=40) == (1.0, 1)
    # scale-matched (>= 1.3x taller or shorter): only crop 2 (100 px) counts; the 50-px neighbour
    # (0, 1) is nearer to crop 0 than crop 2 (0.6, 0.8) is? 0.6 > 0.0 -> still a hit
    assert rl.track_separation(E, track, frame, visible, gap=40, heights=heights, ratio=1.3) == (1.0, 1)
    E2 = E.copy()
    E2[3] = [0.8, 0.6]   # the neighbour now looks more like crop 0 than its own far-size crop
    assert rl.track_separation(E2, track, frame, visible, gap=40) == (1.0, 1)
    assert rl.track_separation(E2, track, frame, visible, gap=40, heights=heights, ratio=1.3) == (0.0, 1)


def _detector_stripes_or_skip(backbone="detector"):
    from companion.errors import AssetUnavailableError

    try:
        return rl.StripeFeatures(backbone=backbone)
    except (AssetUnavailableError, FileNotFoundError) as exc:
        pytest.skip(f"needs the person detector's weights in the data cache: {exc}")


def test_detector_backbone_is_cut_where_the_imagenet_one_is():
    """The detector's MobileNetV2 as layers indexed like torchvision's ``features``: same channel
    counts and strides layer by layer, so taps (7, 14) give 32 ch at /8 and 96 ch at /16; and its
    first 14 layers feed the detector's own first map exactly (same scaling x * 2 / 255 - 1, same
    TensorFlow padding), so the stripes see what the detector sees."""
    from companion.detection.detector import load_person_ssd
    from companion.detection.ssdlite import preprocess
    from companion.errors import AssetUnavailableError

    try:
        det, mean, std = rl.backbone_layers("detector")
        img, _, _ = rl.backbone_layers("imagenet")
        ssd = load_person_ssd(verbose=False)
    except (AssetUnavailableError, FileNotFoundError) as exc:
        pytest.skip(f"needs the detector's and ImageNet weights in the data cache: {exc}")
    assert len(det) == len(img) == 19
    x = y = torch.zeros(1, 3, *rl.CROP)
    with torch.no_grad():
        for a, b in zip(det, img):
            x, y = a(x), b(y)
            assert x.shape == y.shape
    crops = np.random.default_rng(2).integers(0, 256, size=(2, *rl.CROP, 3), dtype=np.uint8)
    t = rl._to_tensor(crops)
    scaled = (t - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    ref = preprocess(torch.from_numpy(crops))
    torch.testing.assert_close(scaled, ref, atol=1e-6, rtol=0)
    with torch.no_grad():
        mine = ssd.backbone.blocks[13].expansion(det[:14](scaled))
        theirs = ssd.backbone(ref)[0]
    torch.testing.assert_close(mine, theirs, atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="imagenet"):
        rl.backbone_layers("resnet")
    with pytest.raises(ValueError, match="detector"):
        rl.StripeFeatures(backbone="resnet")


def test_detector_and_both_stripes_are_frozen_and_concatenate(features):
    det = _detector_stripes_or_skip("detector")
    both = _detector_stripes_or_skip("both")
    assert det.backbone == "detector" and both.backbone == "both" and features.backbone == "imagenet"
    assert det.dim == rl.STRIPES * (32 + 96) and both.dim == features.dim + det.dim
    for f in (det, both):
        assert not f.training and not any(p.requires_grad for p in f.parameters())
    crops = np.random.default_rng(3).integers(0, 256, size=(3, *rl.CROP, 3), dtype=np.uint8)
    xd, xb = rl.stripe_features(crops, det), rl.stripe_features(crops, both)
    np.testing.assert_allclose(np.linalg.norm(xd, axis=1), np.sqrt(2 * rl.STRIPES), atol=1e-4)
    np.testing.assert_allclose(xb, np.concatenate([rl.stripe_features(crops, features), xd], 1), atol=1e-5)
    # the detector's stripes are not the ImageNet ones under another name
    assert np.abs(xd - rl.stripe_features(crops, features)).max() > 0.1
    # a head trained on one backbone's stripes is refused with the other's
    other = "detector" if rl.BACKBONE == "imagenet" else "imagenet"
    with pytest.raises(ValueError, match="backbone"):
        rl.load_head(None, rl.STRIPES * 128, backbone=other)
