"""26.5 multi-object tracking: boxes, Kalman filters, assignment, SORT, DeepSORT, ByteTrack, metrics.

The three trackers share the calling convention of ``trackers.ByteTrackTracker`` (trackers 2.6)::

    tracker = ByteTrack(frame_rate=fps)            # or SORT(...), DeepSORT(...)
    for frame, detections in stream:               # detections: supervision.Detections
        tracked = tracker.update(detections, frame=frame)   # frame only needed by DeepSORT
        tracked.tracker_id                         # -1 = not on a confirmed track

so swapping in ``trackers.ByteTrackTracker`` changes only the import and the constructor
(``trackers`` accepts ``frame=`` too, ignoring it with a warning). Unlike ``trackers``, the output
keeps the input order. Modules: ``boxes``, ``kalman``, ``assignment``, ``sort``, ``deepsort``,
``bytetrack``, ``reid`` (appearance), ``metrics`` (MOTA/IDF1/HOTA), ``noise`` (noisy detections
from ground truth, ``run_tracker``), ``draw`` (pictures).
"""

from companion.tracking.assignment import fuse_score, gate_cost_matrix, linear_assignment
from companion.tracking.boxes import (box_area, box_iou, iou_distance, xyah_to_xyxy, xysr_to_xyxy,
                                      xywh_to_xyxy, xyxy_to_xyah, xyxy_to_xysr, xyxy_to_xywh)
from companion.tracking.bytetrack import ByteTrack
from companion.tracking.deepsort import DeepSORT, matching_cascade
from companion.tracking.draw import draw_boxes, draw_tracks_on_clip, match_timeline, plot_cost_matrix, plot_timeline
from companion.tracking.kalman import CHI2INV95, SORTKalman, XYAHKalman
from companion.tracking.metrics import count_id_switches, detections_to_mot_rows, load_mot, mot_metrics
from companion.tracking.noise import noisy_detections, run_tracker, tud_sequence
from companion.tracking.reid import ColorHistogramEmbedder, ReIDEmbedder
from companion.tracking.sort import SORT, sort_step

__all__ = [
    "ByteTrack", "DeepSORT", "SORT", "SORTKalman", "XYAHKalman", "CHI2INV95",
    "linear_assignment", "gate_cost_matrix", "fuse_score",
    "box_iou", "box_area", "iou_distance", "xyxy_to_xywh", "xywh_to_xyxy", "xyxy_to_xyah", "xyah_to_xyxy",
    "xyxy_to_xysr", "xysr_to_xyxy",
    "mot_metrics", "load_mot", "detections_to_mot_rows", "count_id_switches", "sort_step", "matching_cascade",
    "noisy_detections", "run_tracker", "tud_sequence",
    "ReIDEmbedder", "ColorHistogramEmbedder",
    "draw_boxes", "draw_tracks_on_clip", "match_timeline", "plot_timeline", "plot_cost_matrix",
]
