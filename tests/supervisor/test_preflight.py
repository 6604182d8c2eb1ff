"""Checks before anything starts: the model file and classes, prompts, ROI files, videos."""

import json
from pathlib import Path

import pytest

from pipeline.config import ConfigError, load_site_config
from supervisor.preflight import prepare_site
from tests.supervisor.videos import tiny_video

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "models" / "demo" / "ppe-demo.onnx"


def site(tmp_path: Path, **top: str) -> Path:
    lines = [f"model: {{path: {top.pop('model', MODEL)}}}"]
    lines += [f"{key}: {value}" for key, value in top.items()]
    lines += [
        "cameras:",
        "  - {id: CAM1, source: {kind: synthetic}}",
        f"  - {{id: CAM2, source: {{kind: file, path: {tmp_path / 'cam2.mp4'}}}}}",
    ]
    path = tmp_path / "site.yaml"
    path.write_text("\n".join(lines) + "\n")
    tiny_video(tmp_path / "cam2.mp4")  # preflight opens it and decodes a frame
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        prepare_site(load_site_config(path), path)
    return caught.value.problems


def test_good_site_is_planned_with_model_spec_and_polygons(tmp_path):
    roi = tmp_path / "roi.json"
    roi.write_text(
        json.dumps({"zone": [[0, 0], [10, 0], [10, 10]], "other": [[1, 1], [5, 1], [5, 5]]})
    )
    path = site(tmp_path, roi=str(roi), roi_polys="[other]")
    plan = prepare_site(load_site_config(path), path)
    (model,) = plan.models.models
    assert (model.spec.input_width, model.spec.input_height) == (320, 320)
    assert model.spec.class_names == ("person", "helmet", "vest")
    assert model.spec.layout.layout.value == "yolo"
    assert plan.models.class_names == ("person", "helmet", "vest")
    assert [[zone.name for zone in zones] for zones in plan.zones] == [["other"], ["other"]]
    assert [role.value for role in plan.roles.roles] == ["person", "helmet", "vest"]


def test_missing_model_and_video_are_reported_together(tmp_path):
    path = site(tmp_path, model=str(tmp_path / "absent.onnx"))
    (tmp_path / "cam2.mp4").unlink()
    found = problems(path)
    assert any(f"model.path: {tmp_path / 'absent.onnx'}: model file not found" in p for p in found)
    assert any(f"cameras[1].source.path: {tmp_path / 'cam2.mp4'} not found" in p for p in found)


def test_prompt_classes_unknown_to_the_model(tmp_path):
    prompts = tmp_path / "prompts.yaml"
    prompts.write_text(
        "classes:\n  person: [worker]\n  goggles: {role: ignore, prompts: [safety goggles]}\n"
    )
    assert problems(site(tmp_path, prompts=str(prompts))) == [
        f"{prompts}:3 classes.goggles: the model has no class 'goggles' (nor its prompts); its "
        "classes are 'person', 'helmet', 'vest'. Fix the name or re-export the model with these "
        "prompts"
    ]


def test_a_zone_that_requires_what_no_class_proves(tmp_path):
    """A zone requiring a vest on a site whose models find no vest would never alert."""
    path = site(tmp_path)
    text = path.read_text().replace("model: {", "model: {classes: [person, helmet], ")
    path.write_text(text)
    found = problems(path)
    assert len(found) == 2 and all(
        "requires a vest, but no class of the models" in p for p in found
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"gate": [[0, 0], [1, 1]]}', "polygon 'gate' needs at least 3 [x, y] points"),
        (
            '{"gate": [[0, 0], [1, "a"], [2, 2]]}',
            "polygon 'gate' point 1 is [1, \"a\"], not [x, y]",
        ),
        ('{"gate": [[0, 0], [1, 1], [2, 2]],}', "not valid JSON"),
        ('{"zone": [[0, 0], [10, 0], [10, 10]]}', "no polygon named 'gate'; the file has: zone"),
        ('{"gate": [[0, 0], [10, 10], [10, 0], [0, 10]]}', "polygon 'gate' crosses itself"),
    ],
)
def test_roi_file_mistakes_name_the_camera_and_file(tmp_path, content, expected):
    roi = tmp_path / "roi.json"
    roi.write_text(content)
    found = problems(site(tmp_path, roi=str(roi), roi_polys="[gate]"))
    assert found and all(p.startswith("cameras[") and str(roi) in p for p in found)
    assert any(expected in p for p in found), found


def test_missing_demo_files_say_which_make_target_makes_them(tmp_path):
    """A demo video or demo model that is not there yet names the command that makes it."""
    video = REPO / "data" / "demo" / "no-such-camera.mp4"
    path = tmp_path / "site.yaml"
    path.write_text(
        f"model: {{path: {REPO / 'models' / 'demo' / 'absent.onnx'}}}\n"
        f"cameras:\n  - {{id: CAM1, source: {{kind: file, path: {video}}}}}\n"
    )
    found = problems(path)
    assert any(
        p.endswith(
            "model file not found: the demo detector ships in the repository (restore it "
            "with `git checkout models/demo`, or retrain it with `make demo-model`)"
        )
        for p in found
    ), found
    assert any(
        p.endswith(f"{video} not found: `make demo` renders the demo videos on first run")
        for p in found
    ), found


def test_unset_sink_secrets_are_named_with_the_line_and_key_that_uses_them(tmp_path, monkeypatch):
    for name in ("VIGIA_T_USER", "VIGIA_T_PASSWORD", "VIGIA_T_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VIGIA_T_USER", "ops")
    path = site(tmp_path)
    path.write_text(
        path.read_text()
        + "events:\n"
        + "  sinks:\n"
        + "    - kind: mqtt\n"
        + "      host: broker.example.com\n"
        + "      username: ${VIGIA_T_USER}\n"
        + "      password: ${VIGIA_T_PASSWORD}\n"
        + "    - kind: webhook\n"
        + "      url: https://hooks.example.com/safety\n"
        + "      headers:\n"
        + '        Authorization: "Bearer ${VIGIA_T_TOKEN}"\n'
    )
    assert problems(path) == [
        f"{path}:10 events.sinks[0].password: environment variable VIGIA_T_PASSWORD is not set "
        "(used as ${VIGIA_T_PASSWORD}); export it before starting the site",
        f"{path}:14 events.sinks[1].headers.Authorization: environment variable VIGIA_T_TOKEN "
        "is not set (used as ${VIGIA_T_TOKEN}); export it before starting the site",
    ]
