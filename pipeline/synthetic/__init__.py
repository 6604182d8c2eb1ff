"""Synthetic worksite scenes with ground truth: the demo's cameras and the tests' fixtures.

`WorksiteScene(seed, width, height, fps).render(index)` is a pure function of its arguments,
so any frame (and its truth) can be regenerated from the frame index a pipeline logged.
"""

from pipeline.synthetic.clutter import Distractor
from pipeline.synthetic.scene import WorksiteScene
from pipeline.synthetic.truth import FrameTruth, WorkerTruth

__all__ = ["Distractor", "FrameTruth", "WorkerTruth", "WorksiteScene"]
