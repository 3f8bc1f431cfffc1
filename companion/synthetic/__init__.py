"""Seeded generators with exact ground truth, shared by every section.

* :mod:`companion.synthetic.video`   — small real video files with known per-frame content (26.1)
* :mod:`companion.synthetic.actions` — action clips where time is the whole story (26.2, 26.3)
* :mod:`companion.synthetic.flow`    — FlyingChairs-like image pairs with dense flow (26.4)
* :mod:`companion.synthetic.street`  — static-camera street scenes with MOT ground truth (26.5, lab)

Import the submodule you need; nothing heavy is imported here.
"""
