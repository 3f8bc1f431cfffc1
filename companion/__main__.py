"""``python -m companion <command>``. The capstone lab lives in :mod:`companion.lab`."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"}:
        print("usage: python -m companion lab [options]   (python -m companion lab --help)")
        return 0 if argv else 2
    if argv[0] == "lab":
        try:
            from companion.lab.cli import main as lab_main
        except ImportError:
            print("[companion] the capstone lab is not built yet; running what exists: the 26.1 "
                  "decoding check on the street clip")
            from companion.data import street_clip
            from companion.io import available_backends, read_clip, video_info
            from companion.sampling import uniform

            path = street_clip()
            info = video_info(path)
            clip = read_clip(path, uniform(info.num_frames, 8))
            print(f"{path}: {info.num_frames} frames, {info.width}x{info.height} @ {info.fps} fps; "
                  f"decoded 8 frames {tuple(clip.shape)} with {available_backends()[0]}")
            return 0
        return lab_main(argv[1:])
    print(f"unknown command {argv[0]!r}; available: lab", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
