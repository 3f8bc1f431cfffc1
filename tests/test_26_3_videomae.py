"""26.3 VideoMAE: tube masking (same positions in every slot, int(ratio N) of them), the
normalised-pixel target (unbiased var, eps 1e-6), patchify order == tubelet-embedding order, the
encoder sees only visible tokens, the loss only counts masked tokens, clear errors."""

import pytest
import torch

from companion.models import (TubeletEmbedding, normalized_pixel_target, patchify, tube_mask,
                              unpatchify, videomae, videomae_classifier)
from companion.models.videomae import random_token_mask

KW = dict(num_frames=8, img_size=32, patch_size=8, tubelet_size=2, dim=32, depth=2, heads=4,
          decoder_dim=16, decoder_depth=1, decoder_heads=2)


def test_tube_mask_same_positions_in_every_slot():
    g = torch.Generator().manual_seed(0)
    m = tube_mask(5, 8, 196, 0.9, generator=g)
    assert m.shape == (5, 8, 196) and m.dtype == torch.bool
    assert torch.equal(m, m[:, :1].expand_as(m))                     # same in every temporal slot
    assert torch.all(m.sum(-1) == 176)                               # int(0.9 * 196)
    assert not torch.equal(m[0], m[1])                               # each clip its own positions
    assert torch.all(tube_mask(2, 4, 16, generator=g).sum(-1) == 14)  # default ratio 0.9
    r = random_token_mask(5, 8, 196, 0.9, generator=g)
    assert torch.all(r.reshape(5, -1).sum(1) == int(0.9 * 8 * 196))
    assert not torch.equal(r, r[:, :1].expand_as(r))


@pytest.mark.parametrize("bad", [0, 1, 1.0, -0.1, 1.5, True, "0.9", None])
def test_mask_ratio_outside_open_interval_rejected(bad):
    with pytest.raises(ValueError, match=r"strictly between 0 and 1"):
        tube_mask(1, 2, 16, bad)
    with pytest.raises(ValueError, match=r"strictly between 0 and 1"):
        videomae(**KW, mask_ratio=bad)


def test_patchify_matches_tubelet_embedding_order_and_round_trips():
    x = torch.rand(2, 3, 8, 32, 24)
    tok = patchify(x, 8, 2)                                          # (B, 4*4*3, 2*8*8*3)
    assert tok.shape == (2, 48, 384)
    assert torch.equal(unpatchify(tok, (4, 4, 3), 8, 2), x)
    emb = TubeletEmbedding(3, 10, 8, 2)
    w = emb.proj.weight.permute(0, 2, 3, 4, 1).reshape(10, -1)        # (D, t p p C) channel last
    want = emb(x).reshape(2, 48, 10)
    torch.testing.assert_close(tok @ w.T + emb.proj.bias, want, rtol=1e-5, atol=1e-5)


def test_normalised_pixel_target():
    x = torch.rand(2, 3, 4, 16, 16)
    tgt = normalized_pixel_target(x, 8, 2)
    # one tubelet, one channel by hand: slot 1, grid row 1, col 0 -> token 1*4 + 2 = 6, channel 2
    px = x[0, 2, 2:4, 8:16, 0:8].reshape(-1)
    want = (px - px.mean()) / (px.std(unbiased=True) + 1e-6)
    torch.testing.assert_close(tgt[0, 6].reshape(-1, 3)[:, 2], want)
    per = tgt.reshape(2, 8, -1, 3)
    torch.testing.assert_close(per.mean(2), torch.zeros(2, 8, 3), atol=1e-5, rtol=0)
    n = per.shape[2]
    torch.testing.assert_close(per.var(2, unbiased=True), torch.ones(2, 8, 3), atol=1e-3, rtol=0)
    assert not torch.allclose(per.var(2, unbiased=False), torch.ones(2, 8, 3), atol=1e-3)  # n={n}
    flat = normalized_pixel_target(torch.full((1, 3, 2, 8, 8), 0.3), 8, 2)
    assert torch.all(flat == 0)                                       # eps keeps a flat patch finite


def test_encoder_sees_only_visible_tokens():
    torch.manual_seed(0)
    m = videomae(**KW).eval()
    x = torch.rand(2, 3, 8, 32, 32)
    mask = m.make_mask(x, generator=torch.Generator().manual_seed(1))  # (2, 4, 16), 14 of 16 masked
    enc = m.encoder(x, mask)
    assert enc.shape == (2, 4 * 2, 32)                                # 2 visible positions x 4 slots
    # changing pixels inside masked tubelets does not change the encoder output
    tok = patchify(x, 8, 2)
    flat = mask.reshape(2, -1)
    tok2 = torch.where(flat[..., None], torch.rand_like(tok), tok)
    x2 = unpatchify(tok2, (4, 4, 4), 8, 2)
    assert (x2 - x).abs().max() > 0.1
    torch.testing.assert_close(m.encoder(x2, mask), enc)
    # while changing a visible tubelet does
    tok3 = torch.where(~flat[..., None], torch.rand_like(tok), tok)
    assert (m.encoder(unpatchify(tok3, (4, 4, 4), 8, 2), mask) - enc).abs().max() > 1e-3


def test_loss_counts_masked_tokens_only():
    torch.manual_seed(0)
    m = videomae(**KW).eval()
    x = torch.rand(2, 3, 8, 32, 32)
    mask = m.make_mask(x, generator=torch.Generator().manual_seed(2))
    loss, pred, flat = m(x, mask)
    assert pred.shape == (2, 64, 2 * 8 * 8 * 3)
    tgt = normalized_pixel_target(x, 8, 2)
    torch.testing.assert_close(loss, ((pred - tgt) ** 2)[flat].mean())
    shown, rec, _ = m.reconstruct(x, mask)
    assert shown.shape == rec.shape == x.shape
    vis = ~flat
    torch.testing.assert_close(patchify(rec, 8, 2)[vis], patchify(x, 8, 2)[vis])  # visible = input


def test_gradients_reach_encoder_and_classifier_reuses_it():
    m = videomae(**KW)
    loss, _, _ = m(torch.rand(2, 3, 8, 32, 32))
    loss.backward()
    assert m.encoder.patch_embed.proj.weight.grad.abs().sum() > 0
    clf = videomae_classifier(encoder=m.encoder, num_classes=5)
    assert clf.encoder is m.encoder
    assert clf(torch.rand(2, 3, 8, 32, 32)).shape == (2, 5)
    scratch = videomae_classifier(num_classes=5, num_frames=8, img_size=32, patch_size=8,
                                  tubelet_size=2, dim=32, depth=1, heads=4)
    assert scratch(torch.rand(1, 3, 8, 32, 32)).shape == (1, 5)


def test_bad_inputs():
    m = videomae(**KW)
    with pytest.raises(ValueError, match="multiple of 2"):
        m(torch.rand(1, 3, 7, 32, 32))
    with pytest.raises(TypeError, match="bool"):
        m(torch.rand(1, 3, 8, 32, 32), torch.zeros(1, 64))
    with pytest.raises(ValueError, match="expected"):
        m(torch.rand(1, 3, 8, 32, 32), torch.zeros(1, 60, dtype=torch.bool))


def test_linear_probe_known_answers():
    from companion.models.videomae import linear_probe

    g = torch.Generator().manual_seed(0)
    centres = torch.randn(4, 6, generator=g) * 5
    y = torch.arange(40) % 4
    x = centres[y] + 0.1 * torch.randn(40, 6, generator=g)
    yt = torch.arange(20) % 4
    xt = centres[yt] + 0.1 * torch.randn(20, 6, generator=g)
    assert linear_probe(x, y, xt, yt, num_classes=4) == 1.0            # separable: perfect
    noise = torch.randn(40, 6, generator=g)                             # features carry no label
    acc = linear_probe(noise, y, torch.randn(400, 6, generator=g), torch.arange(400) % 4, num_classes=4)
    assert acc < 0.4
    assert linear_probe(x, y, xt, yt, num_classes=4) == linear_probe(x, y, xt, yt, num_classes=4)  # deterministic
    with pytest.raises(ValueError, match="features"):
        linear_probe(x, y, xt[:, :3], yt, num_classes=4)
    with pytest.raises(ValueError, match="same length"):
        linear_probe(x, y[:5], xt, yt, num_classes=4)


def test_encoder_features_are_the_classifier_input():
    from companion.models.videomae import encoder_features
    from companion.synthetic.actions import ActionClips

    torch.manual_seed(0)
    clf = videomae_classifier(num_classes=8, **{k: KW[k] for k in ("num_frames", "img_size", "patch_size",
                                                                     "tubelet_size", "dim", "depth", "heads")}).eval()
    ds = ActionClips(5, seed=3, num_frames=8, size=32)
    feats, labels = encoder_features(clf.encoder, ds, batch_size=2)
    clips = torch.stack([ds[i][0] for i in range(5)])
    with torch.no_grad():
        torch.testing.assert_close(clf.head(clf.fc_norm(feats)), clf(clips), rtol=1e-5, atol=1e-5)
    assert labels.tolist() == [ds[i][1] for i in range(5)]


def test_slot_features_keep_time_order_and_average_to_token_features():
    from companion.models.videomae import encoder_features
    from companion.synthetic.actions import ActionClips

    torch.manual_seed(0)
    enc = videomae(**KW).encoder.eval()
    ds = ActionClips(3, seed=4, num_frames=8, size=32)
    tok, _ = encoder_features(enc, ds)
    slots, _ = encoder_features(enc, ds, pool="slots", batch_size=2)
    assert slots.shape == (3, 4 * 32)                                   # 4 slots x width 32, in time order
    x = torch.stack([ds[i][0] for i in range(3)])
    with torch.no_grad():
        out = enc(x).reshape(3, 4, 16, 32)
    torch.testing.assert_close(slots.reshape(3, 4, 32), out.mean(2))
    torch.testing.assert_close(slots.reshape(3, 4, 32).mean(1), tok, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="pool"):
        encoder_features(enc, ds, pool="cls")


def test_copy_nearest_visible_known_answer():
    from companion.models.videomae import copy_nearest_visible

    # one clip, 2 slots of a 2x3 grid; tokens carry their own flat index as their value
    tokens = torch.arange(12, dtype=torch.float32).reshape(1, 12, 1).repeat(1, 1, 2)
    spatial = torch.tensor([True, False, True,
                            True, True, False])                        # visible: (0,1) and (1,2)
    mask = spatial.repeat(2)[None]
    out = copy_nearest_visible(tokens, mask, (2, 2, 3))
    # slot 0: (0,0) <- (0,1) [1 < sqrt 5]; (0,2) <- (0,1) [tie 1 = 1 with (1,2): lower index wins];
    # (1,0) <- (0,1) [sqrt 2 < 2]; (1,1) <- (0,1) [tie]; slot 1 the same, indices shifted by 6
    want = torch.tensor([1, 1, 1, 1, 1, 5, 7, 7, 7, 7, 7, 11], dtype=torch.float32)
    torch.testing.assert_close(out[0, :, 0], want)
    torch.testing.assert_close(out[..., 1], out[..., 0])
    with pytest.raises(ValueError, match="no visible"):
        copy_nearest_visible(tokens, torch.ones(1, 12, dtype=torch.bool), (2, 2, 3))


def _shipped():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "train_videomae_tiny.py"
    spec = importlib.util.spec_from_file_location("train_videomae_tiny", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod, torch.load(mod.PATH, weights_only=False)


def test_shipped_videomae_reconstructs_held_out_clips_better_than_no_learning_guesses():
    """The shipped pretraining's last snapshot, on 200 held-out clips: lower masked-tubelet error
    than its initial weights, than painting the mean visible colour and than copying the nearest
    visible tubelet — re-measured here, and equal to the numbers the checkpoint reports."""
    mod, ckpt = _shipped()
    rep = ckpt["report"]
    last, first = max(ckpt["snapshots"]), min(ckpt["snapshots"])
    r = mod.reconstruction_errors(mod.load_snapshot(ckpt["snapshots"][last], rep["recipe"], rep["target"]))
    r0 = mod.reconstruction_errors(mod.load_snapshot(ckpt["snapshots"][first], rep["recipe"], rep["target"]))
    shipped = rep["curve"][str(last)]["reconstruction"]
    for key in ("model_mse", "visible_mean_mse", "copy_mse"):
        assert r[key] == pytest.approx(shipped[key], rel=1e-4)
        assert r["moving"][key] == pytest.approx(shipped["moving"][key], rel=1e-4)
    assert r["model_mse"] < r0["model_mse"]
    assert r["model_mse"] < r["visible_mean_mse"] and r["model_mse"] < r["copy_mse"]
    assert r["moving"]["tubelets"] + r["static"]["tubelets"] == int(rep["recipe"]["mask_ratio"] * 16) * 4 * r["n"]
