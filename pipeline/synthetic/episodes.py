"""Ground-truth violation episodes: per worker, the stretches of frames spent inside the work
zone without a required item (zone.WorkerCompliance.violating).

Two stretches of one worker separated by fewer than `merge_gap_s` seconds (out of view, out
of the zone, or wearing everything for a moment) are one episode: an alert rule with a
re-arm period raises one alert for them. Times are seconds on the scene's timeline,
frame index / fps; an episode covers [first_index / fps, (last_index + 1) / fps).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pipeline.config.compliance import PpeItem
from pipeline.synthetic.zone import WorkerCompliance


@dataclass
class TruthEpisode:
    """One worker's episode. `judged_frames`: its frames where the violation was judgeable
    (zone.WorkerCompliance.judgeable_violation); `first_judged_index`: the first of them."""

    worker_id: int
    first_index: int
    last_index: int
    fps: float
    judged_frames: int = 0
    first_judged_index: int | None = None
    missing: set[PpeItem] = field(default_factory=set)

    @property
    def start_s(self) -> float:
        return self.first_index / self.fps

    @property
    def end_s(self) -> float:
        return (self.last_index + 1) / self.fps

    @property
    def judged_s(self) -> float:
        """Seconds of the episode a detector could judge."""
        return self.judged_frames / self.fps

    @property
    def judged_from_s(self) -> float | None:
        """When the violation first became judgeable (seconds), None if it never did."""
        return None if self.first_judged_index is None else self.first_judged_index / self.fps

    def expected(self, min_violation_s: float, margin_s: float) -> bool:
        """Whether a rule needing `min_violation_s` of missing evidence must alert: judgeable
        for at least that long plus `margin_s` (for detection and tracking start-up)."""
        return self.judged_s >= min_violation_s + margin_s


def truth_episodes(
    frames: Iterable[tuple[int, Sequence[WorkerCompliance]]], fps: float, merge_gap_s: float
) -> list[TruthEpisode]:
    """Episodes from (frame index, every worker of that frame) in increasing index order,
    sorted by start (then worker)."""
    gap_frames = round(merge_gap_s * fps)
    open_episodes: dict[int, TruthEpisode] = {}
    done: list[TruthEpisode] = []
    for index, workers in frames:
        for worker in workers:
            if not worker.violating:
                continue
            episode = open_episodes.get(worker.id)
            if episode is not None and index - episode.last_index - 1 >= gap_frames:
                done.append(episode)
                episode = None
            if episode is None:
                episode = open_episodes[worker.id] = TruthEpisode(worker.id, index, index, fps)
            episode.last_index = index
            episode.missing.update(worker.missing)
            if worker.judgeable_violation:
                episode.judged_frames += 1
                if episode.first_judged_index is None:
                    episode.first_judged_index = index
    done.extend(open_episodes.values())
    return sorted(done, key=lambda e: (e.first_index, e.worker_id))
