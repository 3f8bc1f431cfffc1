"""26.4 tools around RAFT: colour wheel (= torchvision.utils.flow_to_image), backward warping,
EPE / >3px, the classical baselines' (x, y) convention, the synthetic generator's exact flow, and
the stereo pair used as real ground truth."""

import numpy as np
import pytest
import torch
from torchvision.utils import flow_to_image

from companion.flow import classical
from companion.flow.evaluation import motorcycle_pair, score
from companion.flow.metrics import endpoint_errors, epe, flow_metrics, outlier_share
from companion.flow.viz import color_wheel, flow_to_color, warp_backward
from companion.synthetic.flow import make_dataset, make_pair


def test_flow_to_color_equals_torchvision():
    g = torch.Generator().manual_seed(0)
    batch = torch.randn(3, 2, 40, 50, generator=g) * 7
    batch[1] *= 0.1  # normalised by the largest magnitude of the whole batch
    assert torch.equal(flow_to_color(batch), flow_to_image(batch))
    one = torch.randn(2, 33, 31, generator=g)
    one[:, :4, :4] = 0
    assert torch.equal(flow_to_color(one), flow_to_image(one))
    assert color_wheel().shape == (55, 3)
    assert torch.equal(flow_to_color(torch.zeros(2, 4, 4)), torch.full((3, 4, 4), 255, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"\(2, H, W\)"):
        flow_to_color(torch.zeros(3, 4, 4))


def test_backward_warp_of_integer_shift_reconstructs_frame1():
    g = torch.Generator().manual_seed(0)
    frame2 = torch.rand(3, 20, 24, generator=g)
    frame1 = torch.roll(frame2, shifts=(-1, -2), dims=(1, 2))  # frame1(p) = frame2(p + (2, 1))
    flow = torch.zeros(2, 20, 24)
    flow[0], flow[1] = 2.0, 1.0
    rec = warp_backward(frame2, flow)
    torch.testing.assert_close(rec[:, :-1, :-2], frame1[:, :-1, :-2])
    assert rec[:, :, -1].abs().max() == 0  # sampled outside → zeros
    with pytest.raises(ValueError, match="does not match"):
        warp_backward(frame2, torch.zeros(2, 5, 5))


def test_metrics_known_answers():
    gt = np.zeros((2, 4, 5), np.float32)
    pred = np.zeros_like(gt)
    pred[0], pred[1] = 3.0, 4.0  # 5 px everywhere
    pred[:, 0, 0] = 0.0  # one exact pixel
    assert epe(pred, gt) == pytest.approx(5 * 19 / 20)
    assert outlier_share(pred, gt) == pytest.approx(19 / 20)
    gt[:, 0, 1] = np.inf  # missing ground truth is skipped
    valid = np.ones((4, 5), bool)
    valid[3] = False
    e = endpoint_errors(pred, gt, valid)
    assert e.numel() == 20 - 1 - 5
    assert flow_metrics(pred, gt)["px3"] == pytest.approx(100 * 18 / 19)
    with pytest.raises(ValueError, match="same shape"):
        epe(pred, gt[:, :2])


def _translated_pair(dx=3, dy=-2, size=96):
    rng = np.random.default_rng(0)
    from companion.synthetic.flow import random_texture

    big = random_texture(rng, size + 20, size + 20)
    img1 = big[10:10 + size, 10:10 + size]
    img2 = big[10 - dy:10 - dy + size, 10 - dx:10 - dx + size]  # content moves by (dx, dy)
    return np.ascontiguousarray(img1), np.ascontiguousarray(img2)


@pytest.mark.parametrize("name", ["Farneback", "DIS (medium)", "TV-L1", "ILK"])
def test_classical_methods_return_x_then_y(name):
    img1, img2 = _translated_pair(3, -2)
    f = classical.METHODS[name](img1, img2)
    assert f.shape == (2, 96, 96) and f.dtype == np.float32
    inner = f[:, 20:-20, 20:-20]
    assert abs(np.median(inner[0]) - 3) < 0.5 and abs(np.median(inner[1]) + 2) < 0.5


def test_classical_input_checks():
    img = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match="differ in size"):
        classical.dis(img, np.zeros((32, 40, 3), np.uint8))
    with pytest.raises(TypeError, match="uint8"):
        classical.farneback(img.astype(np.float32), img.astype(np.float32))
    with pytest.raises(ValueError, match="preset"):
        classical.dis(img, img, preset="slow")


def test_synthetic_pairs_are_seeded_and_flow_is_exact():
    a, b = make_pair(seed=5, size=(96, 128)), make_pair(seed=5, size=(96, 128))
    assert all(np.array_equal(a[k], b[k]) for k in ("img1", "img2", "flow", "valid"))
    assert not np.array_equal(a["img1"], make_pair(seed=6, size=(96, 128))["img1"])
    assert a["flow"].shape == (2, 96, 128) and a["valid"].dtype == bool
    # background pixels move exactly by the background's affine map
    bg = a["labels"] == 0
    m = a["affines"][0]
    ys, xs = np.nonzero(bg)
    np.testing.assert_allclose(a["flow"][0][bg], m[0, 0] * xs + m[0, 1] * ys + m[0, 2] - xs, atol=1e-3)
    # warping frame 2 by the exact flow reproduces frame 1 where nothing is occluded
    s = make_pair(seed=3, size=(128, 160))
    rec = warp_backward(torch.from_numpy(s["img2"]).permute(2, 0, 1).float(), torch.from_numpy(s["flow"]))
    err = (rec - torch.from_numpy(s["img1"]).permute(2, 0, 1).float()).abs().mean(0).numpy()
    assert np.median(err[s["valid"]]) < 3 and err[s["valid"]].mean() < 0.2 * err[~s["valid"]].mean()
    assert 0.3 < s["valid"].mean() < 1.0  # occlusions exist
    assert len(make_dataset(2, seed=1, size=(64, 64))) == 2
    with pytest.raises(ValueError, match="size"):
        make_pair(seed=0, size=(8, 8))


def test_static_background_and_flat_layers():
    """Stage-2 options: a still background has exactly zero flow and the same pixels in both
    frames wherever no shape covers it; the random stream (hence the shapes) is unchanged;
    flat layers are nearly textureless; flat_p=0 draws nothing extra."""
    moving = make_pair(seed=7, size=(96, 128))
    still = make_pair(seed=7, size=(96, 128), static_background=True)
    np.testing.assert_array_equal(moving["labels"], still["labels"])       # same shapes
    np.testing.assert_array_equal(moving["affines"][1:], still["affines"][1:])
    bg = still["labels"] == 0
    assert bg.any() and (still["flow"][:, bg] == 0).all()
    both = bg & still["valid"]                                         # background visible in both
    np.testing.assert_array_equal(still["img1"][both], still["img2"][both])
    np.testing.assert_array_equal(make_pair(seed=7, size=(96, 128), flat_p=0.0)["img1"], moving["img1"])
    flat = make_pair(seed=7, size=(96, 128), flat_p=1.0, n_shapes=(0, 0))
    textured = make_pair(seed=7, size=(96, 128), n_shapes=(0, 0))
    grad = lambda im: np.abs(np.diff(im.astype(float), axis=1)).mean()
    assert grad(flat["img1"]) < 0.3 * grad(textured["img1"])


def test_photo_layers_are_real_photographs_never_the_evaluation_pair():
    """Stage-3 option: photo_p=1 fills every layer with a crop of a scikit-image photograph,
    seeded; photo_p=0 draws nothing extra; the stereo pair used for evaluation is not a source."""
    from companion.synthetic.flow import PHOTOS, _photo, photo_texture

    assert "stereo_motorcycle" not in PHOTOS and len(PHOTOS) >= 10
    t1 = photo_texture(np.random.default_rng(3), 96, 128)
    t2 = photo_texture(np.random.default_rng(3), 96, 128)
    assert t1.shape == (96, 128, 3) and t1.dtype == np.uint8
    np.testing.assert_array_equal(t1, t2)
    crops = [photo_texture(np.random.default_rng(s), 64, 64) for s in range(40)]
    assert len({c.tobytes() for c in crops}) == 40
    with pytest.raises(ValueError, match="unknown photo"):
        _photo("stereo_motorcycle")
    plain = make_pair(seed=7, size=(96, 128))
    np.testing.assert_array_equal(make_pair(seed=7, size=(96, 128), photo_p=0.0)["img1"], plain["img1"])
    photo = make_pair(seed=7, size=(96, 128), photo_p=1.0, n_shapes=(0, 0))
    assert photo["img1"].std() > 5 and (photo["flow"] != 0).any()


def test_training_stages_are_seeded_and_differ():
    from companion.flow.training import STAGES, batch_for_step

    a = batch_for_step(4, 2, seed=0, stage="mixed")
    b = batch_for_step(4, 2, seed=0, stage="mixed")
    c = batch_for_step(4, 2, seed=0, stage="chairs")
    d = batch_for_step(4, 2, seed=0, stage="photos")
    e = batch_for_step(4, 2, seed=0, stage="large")
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[0], c[0]) and not torch.equal(a[0], d[0]) and not torch.equal(c[0], d[0])
    assert e[0].shape == (2, 3, 320, 448) and e[2].abs().amax() > 40   # stage 4: large pairs, large motions
    assert set(STAGES) == {"chairs", "mixed", "photos", "large"}
    with pytest.raises(ValueError, match="stage must be one of"):
        batch_for_step(0, 1, seed=0, stage="things")


def test_stereo_pair_is_real_ground_truth_with_known_zero_flow_error():
    p = motorcycle_pair()
    assert p["img1"].shape == (500, 741, 3) and p["flow"].shape == (2, 500, 741)
    assert np.isinf(p["flow"][0][~p["valid"]]).all() and (p["flow"][1][p["valid"]] == 0).all()
    assert (p["flow"][0][p["valid"]] < 0).all()  # left → right: things move left
    zero = score(classical.zero, [p])
    assert zero["epe"] == pytest.approx(34.3, abs=0.1)  # reference-facts anchor


def test_shipped_raft_beats_farneback_on_held_out_and_real_pairs():
    """Quality guard for the shipped weights (the full table is benchmarks/bench_flow_eval.py)."""
    torch.set_num_threads(1)
    from companion.flow.evaluation import heldout_synthetic, raft_flow_fn

    raft = raft_flow_fn(num_flow_updates=12, scale="auto")
    synth = heldout_synthetic(3)
    assert score(raft, synth)["epe"] < score(classical.farneback, synth)["epe"]
    moto = [motorcycle_pair(half=True)]
    ours, farn = score(raft, moto), score(classical.farneback, moto)
    assert ours["epe"] < farn["epe"] and ours["px3"] < farn["px3"]


def test_step_batches_with_workers_are_the_steps_batches():
    """The DataLoader that renders pairs in other processes gives exactly batch_for_step's batches, in order."""
    from companion.flow.training import StepBatches, batch_for_step

    loader = torch.utils.data.DataLoader(StepBatches(3, 2, 5, "chairs"), batch_size=None, num_workers=2)
    for step, got in enumerate(loader):
        assert all(torch.equal(x, y) for x, y in zip(got, batch_for_step(step, 2, 5, "chairs")))


def test_shipped_raft_beats_tv_l1_on_the_stereo_pair_at_full_resolution():
    """Issue 16's protocol, fixed before the stage-4 run was scored: the real stereo pair at its
    full 500x741 resolution, 12 updates, EPE over the pixels with a disparity; TV-L1 scored in
    the same run (7.28 px, 42 % of pixels off by > 3 px). The stage-3 weights fail it (8.62 px)."""
    torch.set_num_threads(1)
    from companion.flow.evaluation import raft_flow_fn

    p = motorcycle_pair()
    ours = score(raft_flow_fn(num_flow_updates=12), [p], use_valid=True)
    tvl1 = score(classical.METHODS["TV-L1"], [p], use_valid=True)
    assert tvl1["epe"] == pytest.approx(7.28, abs=0.05)
    assert ours["epe"] < tvl1["epe"] and ours["px3"] < tvl1["px3"], (ours, tvl1)


def test_shipped_raft_on_the_street_clip_people_light_up(street_clip_path):
    """The sanity check of 26.4.5 on the real clip: between two consecutive frames the shipped
    RAFT gives the pixels that changed (walkers) several times the flow of the static rest, and
    between two identical frames almost no flow at all."""
    torch.set_num_threads(1)
    from companion.flow.evaluation import raft_flow_fn
    from companion.io import read_clip

    clip = read_clip(street_clip_path, [200, 201]).float()
    f1, f2 = torch.nn.functional.interpolate(clip, scale_factor=0.5, mode="area").round().byte() \
        .permute(0, 2, 3, 1).numpy()
    changed = np.abs(f1.astype(int) - f2.astype(int)).max(-1) > 25
    raft = raft_flow_fn(num_flow_updates=12, scale="auto")
    mag = np.linalg.norm(raft(f1, f2), axis=0)
    assert changed.mean() > 0.005
    assert mag[changed].mean() > 3 * mag[~changed].mean()
    assert np.linalg.norm(raft(f1, f1), axis=0).mean() < 0.5


def test_exercise_epe_and_pyramid_memory_written_out_equal_the_companion():
    """ex26_4.q4 / q5 solutions spell the formulas out; the companion functions must agree."""
    from companion.exercises import ex26_4
    from companion.flow.correlation import volume_bytes
    from companion.flow.metrics import epe

    g = torch.Generator().manual_seed(3)
    gt = torch.randn(2, 7, 9, generator=g) * 4
    gt[:, 2, 3] = float("inf")  # a pixel without ground truth is skipped by both
    pred = gt.nan_to_num(posinf=0.0) + torch.randn(2, 7, 9, generator=g)
    assert ex26_4.epe(pred, gt) == pytest.approx(epe(pred, gt), rel=1e-12)
    assert ex26_4._gigabytes_1088x1920() == volume_bytes(1088, 1920, 4) / 1e9
