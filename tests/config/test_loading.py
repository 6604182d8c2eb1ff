"""A bad site file exits with code 2 before anything starts, naming file:line and key path."""

import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import ConfigError, Override, load_site_config

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "models" / "demo" / "ppe-demo.onnx"

GOOD = """\
site: yard
model:
  path: {model}
inference:
  max_batch: 4
cameras:
  - id: CAM1
    source: {{kind: synthetic, seed: 1}}
  - id: CAM2
    source:
      kind: synthetic
      seed: 2
    target_fps: 5
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(text.format(model=MODEL))
    return path


def problems_of(path: Path, overrides=None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_site_config(path, overrides)
    return caught.value.problems


def test_good_file_loads_with_defaults(tmp_path):
    config = load_site_config(write(tmp_path, GOOD))
    assert [camera.id for camera in config.cameras] == ["CAM1", "CAM2"]
    assert config.cameras[1].target_fps == 5
    assert config.supervisor_heartbeat_timeout == 30.0
    assert config.supervisor_max_restarts == 5
    assert config.supervisor_restart_window == 3600.0


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            ("max_batch: 4", "max_bacth: 4"),
            "site.yaml:5 inference.max_bacth: unknown key (did you mean `max_batch`?)",
        ),
        (("max_batch: 4", "max_batch: four"), "site.yaml:5 inference.max_batch: "),
        (("target_fps: 5", "target_fps: 0"), "site.yaml:13 cameras[1].target_fps: must be > 0"),
        (
            ("id: CAM2", "id: CAM1"),
            "site.yaml:9 cameras[1].id: duplicate camera id 'CAM1' (also cameras[0])",
        ),
        (
            ("kind: synthetic\n", "kind: rtsp-ish\n"),
            "site.yaml:11 cameras[1].source: unknown source kind 'rtsp-ish'",
        ),
        (
            ("site: yard\n", "site: yard\nsupervisor_max_restarts: -1\n"),
            "site.yaml:2 supervisor_max_restarts: must be >= 0",
        ),
    ],
)
def test_mistakes_are_located(tmp_path, edit, expected):
    old, new = edit
    path = write(tmp_path, GOOD.replace(old, new, 1))
    problems = problems_of(path)
    assert any(expected in problem for problem in problems), problems
    assert all(problem.startswith(str(path)) for problem in problems)


NESTED = """\
site: yard
model:
  path: {model}
  conf_treshold: 0.3
cameras:
  - id: CAM1
    source:
      kind: rtsp
      url: rtsp://10.0.0.3/s1
      stall_timeot: 5
  - id: CAM2
    source:
      kind: usb
      device: video0
  - id: CAM3
    source: {{kind: file, path: a.mp4, lop: true}}
    target_fsp: 5
supervisor_startsec: 2
"""


def test_mistakes_inside_sources_and_models_are_placed_with_a_suggestion(tmp_path):
    """Regression: `site.yaml:6 cameras[0].source.rtsp.stall_timeot: unknown key` pointed at
    `kind: rtsp` (the tag pydantic puts in the error location is no key of the file) and
    suggested nothing."""
    path = write(tmp_path, NESTED)
    assert sorted(problems_of(path)) == sorted(
        f"{path}:{line} {key}: {message}"
        for line, key, message in [
            (4, "model.conf_treshold", "unknown key (did you mean `conf_threshold`?)"),
            (10, "cameras[0].source.stall_timeot", "unknown key (did you mean `stall_timeout`?)"),
            (
                14,
                "cameras[1].source.device",
                "Value error, a device path starts with /, e.g. /dev/video0 (got 'video0')",
            ),
            (16, "cameras[2].source.lop", "unknown key (did you mean `loop`?)"),
            (17, "cameras[2].target_fsp", "unknown key (did you mean `target_fps`?)"),
            (18, "supervisor_startsec", "unknown key (did you mean `supervisor_startsecs`?)"),
        ]
    )


def test_backoff_cap_below_its_start_is_refused(tmp_path):
    text = GOOD.replace("site: yard\n", "site: yard\nsupervisor_backoff_initial: 10\n")
    path = write(tmp_path, text + "supervisor_backoff_max: 2\n")
    assert problems_of(path) == [
        f"{path}:15 supervisor_backoff_max: must be >= supervisor_backoff_initial (10)"
    ]


def test_missing_required_key_points_at_parent(tmp_path):
    path = write(tmp_path, GOOD.replace("  path: {model}\n", "  conf_threshold: 0.3\n"))
    assert problems_of(path) == [f"{path}:3 model.path: required key is missing"]


def test_duplicate_yaml_key_is_refused(tmp_path):
    path = write(tmp_path, GOOD.replace("site: yard\n", "site: yard\nsite: other\n"))
    assert problems_of(path) == [f"{path}:2: key 'site' appears twice (first on line 1); keep one"]


def test_command_line_override_is_named_by_its_flag(tmp_path):
    path = write(tmp_path, GOOD)
    problems = problems_of(
        path, [Override("supervisor_heartbeat_timeout", -3.0, "--heartbeat-timeout")]
    )
    assert problems == ["--heartbeat-timeout: must be > 0 (got -3.0)"]
    config = load_site_config(path, [Override("supervisor_max_restarts", 2, "--max-restarts")])
    assert config.supervisor_max_restarts == 2


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline.run", *args, "--no-dashboard", "--duration", "1"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD.replace("max_batch: 4", "max_bacth: 4"), ":5 inference.max_bacth: unknown key"),
        (GOOD.replace("target_fps: 5", "target_fps: fast"), ":13 cameras[1].target_fps:"),
        (GOOD.replace("id: CAM2", "id: CAM1"), ":9 cameras[1].id: duplicate camera id"),
        (
            GOOD.replace("{model}", "/nonexistent/model.onnx"),
            "model.path: /nonexistent/model.onnx: model file not found",
        ),
    ],
)
def test_cli_exits_2_before_starting_anything(tmp_path, text, expected):
    path = tmp_path / "site.yaml"
    path.write_text(text.format(model=MODEL))
    result = run_cli(str(path), "--output-dir", str(tmp_path / "run"))
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()  # nothing was started, not even the run folder


def test_cli_missing_file_exits_2(tmp_path):
    result = run_cli(str(tmp_path / "nope.yaml"))
    assert result.returncode == 2
    assert f"{tmp_path / 'nope.yaml'}: config file not found" in result.stderr


def test_supervisor_entry_point_accepts_the_predecessors_flags(tmp_path):
    path = write(tmp_path, GOOD.replace("target_fps: 5", "target_fps: 0"))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "supervisor",
            "--config",
            str(path),
            "--log-file",
            str(tmp_path / "x.log"),
            "--heartbeat-timeout",
            "30.0",
            "--max-restarts",
            "5",
            "--restart-window",
            "3600.0",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert result.returncode == 2
    assert "cameras[1].target_fps: must be > 0" in result.stderr
