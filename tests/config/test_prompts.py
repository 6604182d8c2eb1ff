"""The prompts file: what each detector class proves, checked against the model's classes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.analytics import ClassRoles, Role, load_prompts
from pipeline.config.compliance import PpeItem
from pipeline.config.loading import ConfigError
from pipeline.config.prompts import default_role, normalize_class_name

REPO = Path(__file__).resolve().parents[2]
DEMO_CLASSES = ("person", "helmet", "vest")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "prompts.yaml"
    path.write_text(text)
    return path


def test_the_demo_file_means_person_helmet_vest():
    roles = load_prompts(REPO / "configs" / "demo-prompts.yaml").resolve(DEMO_CLASSES)
    assert roles.roles == (Role.PERSON, Role.HELMET, Role.VEST)
    assert roles.watches(PpeItem.HELMET) and roles.watches(PpeItem.VEST)


GOOD_FILES = [
    (
        "list of names",
        "classes: [person, helmet, vest]\n",
        DEMO_CLASSES,
        ["person", "helmet", "vest"],
    ),
    (
        "negative classes by default name",
        "classes:\n  person: [person]\n  hardhat: [hard hat]\n  head: [head]\n  NO-Safety Vest: [x]\n",
        ("person", "hardhat", "head", "NO-Safety Vest"),
        ["person", "helmet", "no_helmet", "no_vest"],
    ),
    (
        "long form with a role",
        "classes:\n  person: [person]\n  Without Helmet: {role: no_helmet}\n  bucket: {role: ignore}\n",
        ("person", "Without Helmet", "bucket"),
        ["person", "no_helmet", "ignore"],
    ),
    (
        # A YOLO-World export keeps each prompt as a class: the entry's name is a group.
        "prompts are the model's classes",
        "classes:\n  person: [person, worker]\n  helmet: [hard hat, safety helmet]\n",
        ("person", "worker", "hard hat", "safety helmet"),
        ["person", "person", "helmet", "helmet"],
    ),
    (
        # A COCO person detector next to a PPE model: the other classes are ignored.
        "classes not in the file",
        "classes:\n  helmet: [hard hat]\n",
        ("person", "bicycle", "car", "helmet", "head"),
        ["person", "ignore", "ignore", "helmet", "no_helmet"],
    ),
]


@pytest.mark.parametrize(
    ("name", "text", "classes", "expected"), GOOD_FILES, ids=[c[0] for c in GOOD_FILES]
)
def test_roles_of_the_model_classes(tmp_path, name, text, classes, expected):
    roles = load_prompts(write(tmp_path, text)).resolve(classes)
    assert [role.value for role in roles.roles] == expected, name


BAD_FILES = [
    (
        "class the model lacks",
        "classes:\n  person: [person]\n  Helmet: [hard hat]\n",
        DEMO_CLASSES,
        "prompts.yaml:3 classes.Helmet: the model has no class 'Helmet' (nor its prompts) "
        "(did you mean 'helmet'?); its classes are 'person', 'helmet', 'vest'",
    ),
    (
        "misspelt name",
        "classes:\n  helmett: [hard hat]\n",
        DEMO_CLASSES,
        "no role is known for a class named 'helmett' (did you mean 'helmet'?)",
    ),
    (
        "prompts half exported",
        "classes:\n  helmet: [hard hat, safety helmet]\n",
        ("person", "hard hat"),
        "the model lacks the prompts 'safety helmet'",
    ),
    (
        "no role for an unknown name",
        "classes:\n  person: [person]\n  gloves: [gloves]\n",
        ("person", "gloves"),
        "prompts.yaml:3 classes.gloves: no role is known for a class named 'gloves'; add `role:`",
    ),
    ("unknown role", "classes:\n  head: {role: bald}\n", ("head",), "role must be one of person,"),
    ("unknown key", "classes:\n  head: {rol: no_helmet}\n", ("head",), "unknown keys rol"),
    ("prompts not text", "classes:\n  helmet: {prompts: 3}\n", ("helmet",), "expected a list of"),
    ("no classes", "other: 1\n", DEMO_CLASSES, "classes: expected a mapping of class name"),
    (
        "one class two roles",
        "classes:\n  helmet: [hat]\n  nohat: {role: no_helmet, prompts: [hat]}\n",
        ("person", "hat"),
        "model class 'hat' is already helmet by classes.helmet",
    ),
    ("not yaml", "classes: [person\n", DEMO_CLASSES, "invalid YAML"),
]


@pytest.mark.parametrize(
    ("name", "text", "classes", "message"), BAD_FILES, ids=[c[0] for c in BAD_FILES]
)
def test_mistakes_are_reported_with_file_line_and_key(tmp_path, name, text, classes, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_prompts(path).resolve(classes)
    assert message in str(error.value), str(error.value)
    assert str(path) in str(error.value)


def test_missing_file():
    with pytest.raises(ConfigError, match="prompts file not found"):
        load_prompts(Path("/nonexistent/prompts.yaml"))


def test_without_a_prompts_file_class_names_decide():
    roles = ClassRoles.from_names(("Person", "Hardhat", "NO-Hardhat", "Safety Vest", "machinery"))
    assert [r.value for r in roles.roles] == ["person", "helmet", "no_helmet", "vest", "ignore"]
    assert not ClassRoles.from_names(("person", "head")).watches(PpeItem.HELMET)


def test_masks_by_role_ignore_ids_outside_the_site():
    roles = ClassRoles.from_names(("person", "helmet", "vest", "head"))
    class_id = np.array([0, 1, 2, 3, 7, -1])
    assert roles.mask(class_id, Role.PERSON).tolist() == [True, False, False, False, False, False]
    assert roles.mask(class_id, Role.HELMET, Role.NO_HELMET).tolist() == [
        False,
        True,
        False,
        True,
        False,
        False,
    ]


@pytest.mark.parametrize(
    ("name", "normal", "role"),
    [
        ("Without Helmet", "without helmet", Role.NO_HELMET),
        ("no_helmet", "no helmet", Role.NO_HELMET),
        ("Hi-Vis  Vest", "hi vis vest", Role.VEST),
        ("hard_hat", "hard hat", Role.HELMET),
        ("forklift", "forklift", None),
    ],
)
def test_default_roles_by_name(name, normal, role):
    assert normalize_class_name(name) == normal
    assert default_role(name) is role
