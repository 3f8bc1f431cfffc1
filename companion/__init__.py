"""companion: the executable companion to the chapter on video understanding.

Sections and where their reference code lives:

* 26.1 frames to clips ........ :mod:`companion.io`, :mod:`companion.sampling`
* 26.2 action recognition ..... :mod:`companion.models` (3D CNNs, I3D, two-stream, SlowFast)
* 26.3 video transformers ..... :mod:`companion.models` (TimeSformer, ViViT, VideoMAE)
* 26.4 optical flow / RAFT .... :mod:`companion.flow`
* 26.5 tracking ............... :mod:`companion.tracking`
* capstone lab ................ :mod:`companion.lab` (``python -m companion lab``)

Shared pieces: :mod:`companion.synthetic` (generated data with exact ground truth),
:mod:`companion.data` (the real street clip), :mod:`companion.exercises` (check / hint / solution).
"""

from companion.config import FAST, seed_everything

__all__ = ["FAST", "seed_everything"]
__version__ = "0.1.0"
