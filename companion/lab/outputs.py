"""The lab's output folder: a run's files appear together and complete, or not at all.

:class:`StagedOutputs` is the one mechanism behind every file the lab writes:

* **Staging.** A run writes into a fresh hidden folder inside the output folder
  (``.companion-lab-staging-*``, same file system) and :meth:`StagedOutputs.commit` moves the
  finished files into place with one ``os.replace`` each (Ctrl-C is held back during the moves).
  A run that fails, is interrupted (Ctrl-C) or runs out of disk space removes its staging folder
  and leaves the previous run's complete outputs exactly as they were.
* **A lock.** While a run is open it holds an exclusive ``flock`` on the output folder itself
  (no lock file; the operating system drops the lock when the process ends, even when killed).
  A second run into the same folder stops at once with :class:`OutputFolderBusy`.
* **A manifest.** ``.companion-lab.json`` records the name, size and sha256 of every file a lab
  run wrote. A run refuses (:class:`OutputConflict`, before anything is written) to replace a
  file that is not in the manifest with that content: a user's own ``summary.json`` in the
  video's folder, a lab file edited since, or a symbolic link (outputs are never written
  through links: the staged file replaces the name itself).
* **Named write errors.** An ``OSError`` while writing one output (disk full, quota) becomes an
  :class:`OutputWriteError` naming that file and saying the previous outputs are unchanged.

Limitation: the lock is POSIX ``flock`` (Linux, macOS); the moves are atomic per file, not as a
set — a machine that loses power between two moves keeps files of both runs, each complete, and
the manifest then lists both versions so the next run can replace them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path
from typing import Iterable, Iterator, Mapping

from companion.errors import CompanionError

MANIFEST_NAME = ".companion-lab.json"
STAGING_PREFIX = ".companion-lab-staging-"
_MANIFEST_TAG = "companion lab outputs"


class OutputFolderBusy(CompanionError):
    """Another lab run is writing into the same output folder."""


class OutputConflict(CompanionError):
    """The output folder holds files under the lab's output names that a lab run did not write."""


class OutputWriteError(CompanionError):
    """Writing one output file failed (disk full, permissions...); the previous outputs are intact."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_manifest(out: Path) -> dict[str, list[str]] | None:
    """``{name: [sha256, ...]}`` from the folder's manifest; {} when there is none, None when a
    file of that name exists but is not a lab manifest (or is a link)."""
    path = out / MANIFEST_NAME
    if not os.path.lexists(path):
        return {}
    if path.is_symlink() or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("written_by") != _MANIFEST_TAG:
        return None
    files = data.get("files", {})
    return {str(k): [str(h) for h in v.get("sha256", [])] for k, v in files.items()
            if isinstance(v, dict)}


def _samefile(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


class StagedOutputs:
    """An output folder opened for one lab run (see the module docstring).

    ``names`` maps keys to file names (``{"json": "summary.json", ...}``); ``protect`` lists
    paths that must never be replaced (the input video). Use it as a context manager::

        with StagedOutputs("outputs/lab", {"json": "summary.json"}) as out:
            with out.writing("json"):
                out.paths["json"].write_text("{}")     # the staged file
            out.commit()                               # now outputs/lab/summary.json
        # leaving the block without commit() (an exception, Ctrl-C) discards the staged files

    ``paths`` are where to write (in the staging folder), ``final`` where the files end up.
    """

    def __init__(self, out_dir, names: Mapping[str, str], *, protect: Iterable = ()):
        if out_dir is None or not str(out_dir).strip():
            raise ValueError(f"the output folder is empty ({str(out_dir)!r}); give a folder name, "
                             f"e.g. --out outputs/lab (an empty --out is refused rather than "
                             f"writing into the current folder)")
        self.out = Path(out_dir).expanduser()
        self.names = dict(names)
        for key, name in self.names.items():
            if not name or Path(name).name != name or name in (".", "..", MANIFEST_NAME):
                raise ValueError(f"output name {name!r} for {key!r} must be a plain file name")
        self.protect = [Path(p) for p in protect]
        self.staging: Path | None = None
        self.paths: dict[str, Path] = {}
        self.final = {k: self.out / v for k, v in self.names.items()}
        self.committed = False
        self._fd: int | None = None
        self._created: list[Path] = []

    # -- opening: checks, lock, staging folder -------------------------------------------------
    def __enter__(self) -> "StagedOutputs":
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> "StagedOutputs":
        out = self.out
        for src in self.protect:
            if _samefile(out, src):
                raise ValueError(f"the output folder {out} is the input video itself; choose "
                                 f"another --out folder (the input is never modified)")
        if os.path.lexists(out) and not out.is_dir():
            raise NotADirectoryError(f"the output path {out} exists and is not a folder; "
                                     f"--out must name a folder")
        try:
            self._make_dirs(out)
            self._fd = os.open(out, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError as exc:
            self._remove_created()
            raise PermissionError(f"cannot write to the output folder {out}: "
                                  f"{exc.strerror or exc}; choose a writable --out folder") from None
        try:
            self._lock()
            self._check_targets()
            for old in out.glob(STAGING_PREFIX + "*"):  # left by a killed run (we hold the lock)
                if old.is_dir() and not old.is_symlink():
                    shutil.rmtree(old, ignore_errors=True)
            try:
                with _sigint_deferred():  # Ctrl-C between making the folder and naming it would lose it
                    self.staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=out))
            except OSError as exc:
                raise PermissionError(f"cannot write to the output folder {out}: "
                                      f"{exc.strerror or exc}; choose a writable --out folder") from None
        except BaseException:
            self.close()
            raise
        self.paths = {k: self.staging / v for k, v in self.names.items()}
        return self

    def _make_dirs(self, out: Path) -> None:
        missing = []
        p = out
        while not os.path.lexists(p) and p != p.parent:
            missing.append(p)
            p = p.parent
        for d in reversed(missing):
            d.mkdir()
            self._created.append(d)

    def _remove_created(self) -> None:
        for d in reversed(self._created):
            try:
                d.rmdir()
            except OSError:
                break
        self._created = []

    def _lock(self) -> None:
        import fcntl

        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputFolderBusy(
                f"the output folder {self.out} is in use by another lab run; wait for it to "
                f"finish or choose another --out folder") from None

    def _check_targets(self) -> dict[str, list[str]]:
        """Refuse before writing anything if a target name is the input, a link, or a file a lab
        run did not write. Returns the manifest."""
        manifest = _read_manifest(self.out)
        if manifest is None:
            raise OutputConflict(
                f"{self.out / MANIFEST_NAME} exists but is not a lab manifest; the lab never "
                f"overwrites files it did not write: move it away or choose another --out folder")
        problems, legacy = [], False
        for name in self.names.values():
            p = self.out / name
            if not os.path.lexists(p):
                continue
            if any(_samefile(p, src) for src in self.protect):
                raise ValueError(f"the output file {p} would overwrite the input video; choose "
                                 f"another --out folder (the input is never modified)")
            if p.is_symlink():
                problems.append(f"{name} (a symbolic link; outputs are never written through links)")
            elif not p.is_file():
                problems.append(f"{name} (not a regular file)")
            elif name not in manifest:
                problems.append(f"{name} (not written by a lab run)")
                legacy = True
            elif _sha256(p) not in manifest[name]:
                problems.append(f"{name} (changed since a lab run wrote it)")
        if problems:
            raise OutputConflict(
                f"the output folder {self.out} already holds " + ", ".join(problems)
                + "; the lab never overwrites files it did not write: move them away or choose "
                  "another --out folder (nothing was written)"
                + (f". Outputs of a lab version older than the manifest ({MANIFEST_NAME}) count "
                   f"as not written by a lab run: delete them once" if legacy else ""))
        return manifest

    # -- writing --------------------------------------------------------------------------------
    @contextlib.contextmanager
    def writing(self, key: str) -> Iterator[Path]:
        """Turn an ``OSError`` (or a PyAV error) raised while writing output ``key`` into an
        :class:`OutputWriteError` naming the file. Yields the staged path."""
        try:
            yield self.paths[key]
        except OutputWriteError:
            raise
        except Exception as exc:
            if not _is_write_error(exc):
                raise
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise OutputWriteError(
                f"could not write {self.final[key]}: {reason}; nothing new was written and the "
                f"previous outputs in {self.out} are unchanged") from exc

    def guard(self, obj, key: str):
        """``obj`` (a streaming writer) with every method call inside :meth:`writing` ``(key)``."""
        return _Guarded(obj, self, key)

    # -- finishing ------------------------------------------------------------------------------
    def commit(self) -> dict[str, Path]:
        """Move every staged file into place and record them in the manifest; returns the final
        paths of the files written. Old lab files this run did not produce are removed."""
        if self.staging is None or self.committed:
            raise RuntimeError("commit() needs an open, uncommitted StagedOutputs")
        with _sigint_deferred():
            old = self._check_targets()  # still ours? (a user may have dropped a file meanwhile)
            new = {}
            for key, name in self.names.items():
                staged = self.paths[key]
                if staged.is_file() and not staged.is_symlink():
                    with self.writing(key):
                        with open(staged, "rb") as f:
                            os.fsync(f.fileno())
                    new[name] = _sha256(staged)
            # the manifest first lists old and new versions, so an interrupted move blocks nothing
            both = {n: sorted(set(old.get(n, [])) | ({new[n]} if n in new else set()))
                    for n in set(old) | set(new)}
            self._write_manifest(both)
            for key, name in self.names.items():
                if name in new:
                    with self.writing(key):
                        os.replace(self.paths[key], self.out / name)
            for name in set(old) - set(new):  # stale files of an earlier run (e.g. its video)
                p = self.out / name
                if p.is_file() and not p.is_symlink() and _sha256(p) in old[name]:
                    p.unlink()
            self._write_manifest({n: [h] for n, h in new.items()})
            self.committed = True
        self.close()
        return {k: v for k, v in self.final.items() if v.name in new}

    def _write_manifest(self, files: dict[str, list[str]]) -> None:
        staged = self.staging / MANIFEST_NAME
        data = {"written_by": _MANIFEST_TAG,
                "note": "files written by `python -m companion lab` / run_lab; the lab replaces "
                        "only these files, and only while they have these sha256 sums",
                "files": {n: {"sha256": h} for n, h in sorted(files.items())}}
        try:
            staged.write_text(json.dumps(data, indent=2))
            os.replace(staged, self.out / MANIFEST_NAME)
        except OSError as exc:
            raise OutputWriteError(f"could not write {self.out / MANIFEST_NAME}: "
                                   f"{exc.strerror or exc}") from exc

    def close(self) -> None:
        """Discard the staging folder (if not committed) and release the lock."""
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging = None
        if self._fd is not None:
            os.close(self._fd)  # releases the flock
            self._fd = None
        if not self.committed:
            self._remove_created()


def _is_write_error(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return True
    try:
        import av
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, av.FFmpegError)


class _Guarded:
    def __init__(self, obj, outputs: StagedOutputs, key: str):
        self._obj, self._outputs, self._key = obj, outputs, key

    def __getattr__(self, name):
        attr = getattr(self._obj, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            with self._outputs.writing(self._key):
                return attr(*args, **kwargs)
        return call


@contextlib.contextmanager
def _sigint_deferred():
    """Hold back Ctrl-C while files are moved into place; re-raise it afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = []
    try:
        previous = signal.signal(signal.SIGINT, lambda *a: caught.append(a))
    except (ValueError, OSError):  # pragma: no cover - no signals here
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt
