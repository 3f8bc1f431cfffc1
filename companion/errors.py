"""Errors the companion raises on purpose, each naming what was wrong and what is accepted."""


class CompanionError(Exception):
    """Base class of the companion's own errors."""


class VideoDecodeError(CompanionError):
    """A file could not be decoded as a video (not a video, truncated, or corrupt)."""

    def __init__(self, path, backend: str, reason: str):
        self.path, self.backend, self.reason = str(path), backend, reason
        super().__init__(f"cannot decode {self.path!s} with backend {backend!r}: {reason}")


class BackendRefusedError(VideoDecodeError):
    """A backend cannot read this file exactly (it would return other frames than the decoding
    policy of :mod:`companion.io` says); the message names the reason and the backends that can."""


class BackendUnavailableError(CompanionError):
    """A decoding backend was asked for but is not installed / usable here."""


class AssetUnavailableError(CompanionError):
    """A real asset (e.g. the street clip) could not be fetched by any route."""
