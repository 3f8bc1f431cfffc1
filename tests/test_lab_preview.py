"""``--preview``: one frame with the line, its 'in' arrow and a labelled grid, nothing counted."""

import numpy as np
import pytest

from companion.lab.cli import main
from companion.lab.pipeline import Annotator, preview_image


def _read_png(path):
    """Read with Pillow: in a long pytest worker OpenCV's own PNG reader has been seen to fail
    ("libpng error: bad parameters to zlib") once other native libraries are loaded."""
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"))[:, :, ::-1]  # BGR, like cv2.imread


def test_preview_image_draws_grid_line_and_arrow():
    frame = np.zeros((200, 300, 3), np.uint8)
    line = (150.0, 180.0, 150.0, 20.0)  # bottom -> top: 'in' = rightward
    img = preview_image(frame, line, step=50)
    assert img.shape == frame.shape and img.dtype == np.uint8
    # grid lines every 50 px (blended, grey) away from the labels and the line
    assert img[75, 50].max() > 40 and img[75, 75].max() == 0 and img[125, 250].max() > 40
    # the line itself is drawn in the preview's colour along its whole length
    col = img[30:170, 150]
    assert (col[:, 0] > 200).all() and (col[:, 2] < 120).all()
    # the arrow points right of the bottom->top line (its tail starts 10 px left of the line)
    right, left = img[90:110, 160:185, 0], img[90:110, 110:135, 0]
    assert (right > 200).sum() > 10 and (left > 200).sum() == 0
    # Annotator.draw_line is the one drawing (same pixels as the lab video's line, other colour)
    ref = Annotator(line).draw_line(np.zeros_like(frame), (255, 60, 60), 1)
    assert ((img[..., 0] > 200) >= (ref[..., 0] > 200))[30:170, 140:190].all()


def test_cli_preview_writes_one_png_and_counts_nothing(tmp_path, capsys):
    import cv2

    video = tmp_path / "in.mp4"
    from companion.synthetic.street import make_street_scene

    make_street_scene(seed=0, num_frames=12, size=(192, 144), num_people=2).write_video(video)
    out = tmp_path / "out"
    assert main(["--video", str(video), "--out", str(out), "--preview", "5",
                 "--line", "20", "130", "170", "30"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["preview.png"]
    img = _read_png(out / "preview.png")
    assert img.shape == (144, 192, 3)
    text = capsys.readouterr().out
    assert "preview of frame 5" in text and "'in'" in text and "--line" in text
    assert main(["--video", str(video), "--out", str(out), "--preview", "99"]) == 2
    assert "outside the video" in capsys.readouterr().err


def test_preview_never_replaces_a_foreign_preview_png(tmp_path):
    """A preview.png the lab did not write is refused; the lab's own is replaced."""
    from companion.lab.cli import main
    from companion.synthetic.street import make_street_scene

    video = tmp_path / "v.mp4"
    make_street_scene(seed=0, num_frames=12, size=(192, 144), num_people=2).write_video(video)
    out = tmp_path / "out"
    out.mkdir()
    mine = out / "preview.png"
    mine.write_bytes(b"my own picture")
    assert main(["--video", str(video), "--out", str(out), "--preview", "3"]) == 2
    assert mine.read_bytes() == b"my own picture"
    mine.unlink()
    assert main(["--video", str(video), "--out", str(out), "--preview", "3"]) == 0
    first = mine.read_bytes()
    assert main(["--video", str(video), "--out", str(out), "--preview", "4"]) == 0
    assert _read_png(mine).shape == (144, 192, 3) and mine.read_bytes() != first
