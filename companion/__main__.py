"""``python -m companion <command>``. The capstone lab lives in :mod:`companion.lab`.

    python -m companion lab                # count people crossing a line in the street clip
    python -m companion lab --help         # options: --video, --line, --detector, --tracker, --out, --json
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"}:
        print("usage: python -m companion lab [options]   (python -m companion lab --help)")
        return 0 if argv else 2
    if argv[0] == "lab":
        from companion.lab.cli import main as lab_main

        return lab_main(argv[1:])
    print(f"unknown command {argv[0]!r}; available: lab", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
