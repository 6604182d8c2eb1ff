"""What a build shows while TensorRT works, fed the calls TensorRT's progress monitor makes."""

from __future__ import annotations

import logging

from rich.console import Console

from engines.progress import LoggedBuildProgress, RichBuildProgress

# The shape of a TensorRT build's report: a top phase with nested ones, steps from 0.
PHASES = [
    ("start", "Building engine", None, 3),
    ("start", "Tactic selection", "Building engine", 40),
    ("step", "Tactic selection", 0),
    ("step", "Tactic selection", 39),
    ("finish", "Tactic selection"),
    ("step", "Building engine", 1),
    ("start", "Serialization", "Building engine", 1),
    ("finish", "Serialization"),
    ("step", "Building engine", 2),
    ("finish", "Building engine"),
]


def replay(progress) -> None:
    for event in PHASES:
        if event[0] == "start":
            progress.phase_start(*event[1:])
        elif event[0] == "step":
            progress.step_complete(*event[1:])
        else:
            progress.phase_finish(event[1])


def test_rich_bars_keep_the_top_phase_and_drop_finished_nested_ones():
    console = Console(record=True, width=100, force_terminal=False)
    with RichBuildProgress(console) as progress:
        progress.phase_start("Building engine", None, 3)
        progress.phase_start("Tactic selection", "Building engine", 40)
        progress.step_complete("Tactic selection", 19)
        shown = {task.description: task.completed for task in progress.progress.tasks}
        assert shown == {"Building engine": 0, "  Tactic selection": 20}
        progress.phase_finish("Tactic selection")
        progress.phase_finish("Building engine")
        replay(progress)  # a second build on the same display
        assert [task.description for task in progress.progress.tasks] == ["Building engine"] * 2
        assert all(task.completed == task.total for task in progress.progress.tasks)
        assert progress.open_phases == []
    assert "Building engine" in console.export_text()


def test_a_step_of_an_unknown_phase_is_ignored():
    with RichBuildProgress(Console(record=True)) as progress:
        progress.step_complete("never started", 3)
        progress.phase_finish("never started")
        assert progress.progress.tasks == []


def test_logged_progress_reports_top_phases_with_durations(caplog):
    caplog.set_level(logging.INFO, logger="engines.progress")
    replay(LoggedBuildProgress("ppe"))
    messages = [record.getMessage() for record in caplog.records]
    assert messages[0] == "Building ppe: Building engine (3 steps)"
    assert messages[1].startswith("Building ppe: Building engine done in ")
    assert len(messages) == 2  # nested phases stay out of the log
