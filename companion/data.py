"""Real assets, fetched once into the ``data/`` cache and always verified by sha256.

The chapter's real footage is OpenCV's sample street clip ``vtest.avi`` (795 frames, 768x576,
10 fps, static camera). :func:`street_clip` finds it, in order:

1. the cache ``data/vtest.avi`` (or ``$COMPANION_DATA``), if its checksum is right;
2. a path named by ``$COMPANION_STREET_CLIP`` (copied into the cache after verification);
3. Debian's ``opencv-doc`` package: an installed copy under ``/usr/share/doc/opencv-doc``, or
   ``apt-get download opencv-doc`` + ``dpkg -x`` into a temporary folder (no install, no root);
4. a download from OpenCV's GitHub repository (``samples/data/vtest.avi``).

If every route fails it raises :class:`~companion.errors.AssetUnavailableError` with manual
instructions. A file with the wrong checksum is never used and never overwrites a good one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import urllib.request
from pathlib import Path

from companion.config import data_dir
from companion.errors import AssetUnavailableError

STREET_CLIP_NAME = "vtest.avi"
STREET_CLIP_SHA256 = "45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf"
STREET_CLIP_INFO = {"num_frames": 795, "width": 768, "height": 576, "fps": 10.0}
_DEB_MEMBER = "usr/share/doc/opencv-doc/examples/data/vtest.avi"
_URLS = (
    "https://raw.githubusercontent.com/opencv/opencv/4.x/samples/data/vtest.avi",
    "https://github.com/opencv/opencv/raw/4.x/samples/data/vtest.avi",
)


def sha256sum(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _verified(path: Path) -> bool:
    return path.is_file() and sha256sum(path) == STREET_CLIP_SHA256


def _install_into_cache(src: Path, dest: Path) -> Path:
    """Copy a verified file into the cache atomically (never leaves a half-written file)."""
    tmp = dest.with_suffix(dest.suffix + ".part")
    shutil.copyfile(src, tmp)
    if not _verified(tmp):
        tmp.unlink(missing_ok=True)
        raise OSError(f"copy of {src} does not match the checksum")
    os.replace(tmp, dest)
    return dest


def _from_debian(workdir: Path, log: list[str]) -> Path | None:
    installed = Path("/") / _DEB_MEMBER
    if _verified(installed):
        return installed
    if installed.exists():
        log.append(f"{installed}: wrong checksum")
    apt, dpkg = shutil.which("apt-get"), shutil.which("dpkg")
    if not (apt and dpkg):
        log.append("Debian route: apt-get/dpkg not available")
        return None
    try:
        run = dict(cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)
        res = subprocess.run([apt, "download", "opencv-doc"], **run)
        if res.returncode != 0:  # package lists may be missing on a fresh machine
            subprocess.run([apt, "update", "-qq"], **run)
            res = subprocess.run([apt, "download", "opencv-doc"], **run)
        debs = sorted(workdir.glob("opencv-doc_*.deb"))
        if not debs:
            log.append("Debian route: apt-get download opencv-doc failed: "
                       + res.stderr.decode(errors="replace").strip()[-200:])
            return None
        subprocess.run([dpkg, "-x", str(debs[-1]), str(workdir / "x")], check=True, **run)
        found = workdir / "x" / _DEB_MEMBER
        if _verified(found):
            return found
        log.append(f"Debian route: {found.name} missing or wrong checksum in {debs[-1].name}")
    except (OSError, subprocess.SubprocessError) as exc:
        log.append(f"Debian route failed: {exc}")
    return None


def _from_web(workdir: Path, log: list[str]) -> Path | None:
    for url in _URLS:
        target = workdir / "download.avi"
        try:
            with urllib.request.urlopen(url, timeout=60) as r, open(target, "wb") as f:
                shutil.copyfileobj(r, f)
        except OSError as exc:
            log.append(f"download {url} failed: {exc}")
            continue
        if _verified(target):
            return target
        log.append(f"download {url}: wrong checksum")
    return None


def street_clip(*, allow_download: bool = True, verbose: bool = True) -> Path:
    """Path of the verified real street clip (``vtest.avi``) in the data cache."""
    dest = data_dir() / STREET_CLIP_NAME
    if _verified(dest):
        return dest
    log: list[str] = []
    if dest.exists():
        log.append(f"{dest}: wrong checksum (left untouched; the verified clip goes beside it)")
        dest = data_dir() / f"vtest-{STREET_CLIP_SHA256[:12]}.avi"
        if _verified(dest):
            return dest
    env_path = os.environ.get("COMPANION_STREET_CLIP")
    if env_path:
        if _verified(Path(env_path)):
            return _install_into_cache(Path(env_path), dest)
        log.append(f"$COMPANION_STREET_CLIP={env_path}: missing or wrong checksum")
    with tempfile.TemporaryDirectory(prefix="companion-clip-") as tmp:
        workdir = Path(tmp)
        if verbose:
            print("[companion] fetching the street clip (vtest.avi) from Debian's opencv-doc ...")
        found = _from_debian(workdir, log)
        if found is None and allow_download:
            if verbose:
                print("[companion] ... trying OpenCV's GitHub repository")
            found = _from_web(workdir, log)
        if found is not None:
            return _install_into_cache(found, dest)
    raise AssetUnavailableError(
        "the real street clip vtest.avi could not be fetched:\n  - " + "\n  - ".join(log)
        + f"\nGet it by hand, then point the companion at it:\n"
        f"  apt-get download opencv-doc && dpkg -x opencv-doc_*.deb x && cp x/{_DEB_MEMBER} {dest}\n"
        f"  (or download {_URLS[0]})\n"
        f"  expected sha256 {STREET_CLIP_SHA256}; or set COMPANION_STREET_CLIP=/path/to/vtest.avi")
