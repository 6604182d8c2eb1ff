"""Ground-truth violation episodes: per worker, the stretches of frames spent inside the work
zone without a required item (zone.WorkerCompliance.violating).

Two violating stretches of one worker are one episode when fewer than `merge_gap_s` seconds
lie between them (out of the zone, or wearing everything for a moment): alert rules with a
re-arm period raise one alert for them. But a worker out of sight (out of the frame, or less
than `hidden_visibility` visible) for longer than `lost_s` ends the episode even while
still violating: no tracker follows a person it cannot see, and the rules end an episode
whose track is lost for longer than their grace period, so what comes after is a new
episode. Times are seconds on the scene's timeline, frame index / fps; an episode covers
[first_index / fps, (last_index + 1) / fps).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pipeline.config.compliance import PpeItem
from pipeline.synthetic.zone import WorkerCompliance

HIDDEN_VISIBILITY = 0.3  # less visible than this is out of sight (the detector's own rule)


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


@dataclass
class _Worker:
    episode: TruthEpisode | None = None
    last_visible: int | None = None  # the last frame index the worker was in sight


def truth_episodes(
    frames: Iterable[tuple[int, Sequence[WorkerCompliance]]],
    fps: float,
    merge_gap_s: float,
    lost_s: float = float("inf"),
    hidden_visibility: float = HIDDEN_VISIBILITY,
) -> list[TruthEpisode]:
    """Episodes from (frame index, every worker of that frame) in increasing index order,
    sorted by start (then worker)."""
    gap_frames = round(merge_gap_s * fps)
    lost_frames = lost_s * fps
    workers: dict[int, _Worker] = {}
    done: list[TruthEpisode] = []
    for index, in_frame in frames:
        for worker in in_frame:
            state = workers.setdefault(worker.id, _Worker())
            episode = state.episode
            if worker.visibility >= hidden_visibility:
                last = state.last_visible
                if (
                    episode is not None
                    and last is not None
                    and last >= episode.first_index
                    and index - last - 1 > lost_frames
                ):
                    # Seen in the episode, then out of sight too long: it ended where the
                    # worker was last seen.
                    episode.last_index = last
                    done.append(episode)
                    episode = state.episode = None
                state.last_visible = index
            if not worker.violating:
                continue
            if episode is not None and index - episode.last_index - 1 >= gap_frames:
                done.append(episode)
                episode = None
            if episode is None:
                episode = state.episode = TruthEpisode(worker.id, index, index, fps)
            episode.last_index = index
            episode.missing.update(worker.missing)
            if worker.judgeable_violation:
                episode.judged_frames += 1
                if episode.first_judged_index is None:
                    episode.first_judged_index = index
    done.extend(state.episode for state in workers.values() if state.episode is not None)
    return sorted(done, key=lambda e: (e.first_index, e.worker_id))
