"""The capstone lab: count the distinct people who cross a line in a street clip.

* :mod:`companion.lab.detect`    — people detectors (background subtraction default, HOG, torchvision)
* :mod:`companion.lab.count`     — the counting definition: foot point, side, hysteresis, extent
* :mod:`companion.lab.pipeline`  — decode -> detect -> track -> count -> annotated video + files
* :mod:`companion.lab.outputs`   — the output folder: staged, locked, manifest of what a run wrote
* :mod:`companion.lab.scenarios` — scripted synthetic scenes with exact ground-truth counts
* :mod:`companion.lab.cli`       — ``python -m companion lab``

Run it: ``python -m companion lab`` (outputs in ``outputs/lab``), or ``run_lab(path)`` in Python.
"""
