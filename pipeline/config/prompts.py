"""What each detector class proves (`--prompts`, `prompts:`): a person, a worn helmet or vest,
or evidence that one is missing.

The prompts file's `classes:` maps a class to the text prompts it was exported with (for
YOLO-World) and, optionally, its role. Two forms of entry, mixed freely:

    classes:
      person: [person, worker]              # short form: prompts; the role follows the name
      helmet: [hard hat, safety helmet]
      vest: [high visibility vest, reflective safety vest]
      head: {role: no_helmet}               # long form: a head seen bare proves "no helmet"
      Without Vest: {role: no_vest, prompts: [person without vest]}

Roles: `person`, `helmet` (a helmet is worn), `vest`, `no_helmet` (a helmet is missing),
`no_vest`, `ignore`. Without `role:`, the class name decides (case, '-' and '_' do not
matter): person/worker -> person; helmet/hard hat/hardhat/safety helmet -> helmet;
vest/safety vest/reflective vest/hi-vis vest... -> vest; head/no helmet/without helmet/
no hardhat -> no_helmet; no vest/without vest/no safety vest -> no_vest. An entry whose
name has no default role must say `role:`.

Matching the model: an entry names a class of the model; or, when the model has no class of
that name, its prompts must all be classes of the model (a YOLO-World export keeps each prompt
as a class), which then all take the entry's role. Any other entry is an error naming the file,
the line and the model's classes. A model class that no entry names takes its default role
by name, or is ignored (a person detector's other COCO classes). Without a prompts file every
class takes its default role. The file of the walking skeleton (three short-form entries
person/helmet/vest, or a plain list of class names) means what it always did.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np

from pipeline.config.compliance import PpeItem
from pipeline.config.loading import ConfigError
from pipeline.yaml_source import YamlDocument, YamlSyntaxError, load_yaml


class Role(str, Enum):
    PERSON = "person"
    HELMET = "helmet"
    VEST = "vest"
    NO_HELMET = "no_helmet"
    NO_VEST = "no_vest"
    IGNORE = "ignore"


# Which item a PPE role speaks about, and whether it proves presence (True) or absence.
ROLE_ITEM: dict[Role, tuple[PpeItem, bool]] = {
    Role.HELMET: (PpeItem.HELMET, True),
    Role.VEST: (PpeItem.VEST, True),
    Role.NO_HELMET: (PpeItem.HELMET, False),
    Role.NO_VEST: (PpeItem.VEST, False),
}

_DEFAULT_NAMES = {
    Role.PERSON: ("person", "worker", "people", "pedestrian"),
    Role.HELMET: ("helmet", "hard hat", "hardhat", "safety helmet", "safety hat", "hard helmet"),
    Role.VEST: (
        "vest",
        "safety vest",
        "reflective vest",
        "reflective safety vest",
        "hi vis vest",
        "high visibility vest",
        "high vis vest",
        "hi vis",
    ),
    Role.NO_HELMET: (
        "head",
        "no helmet",
        "without helmet",
        "no hardhat",
        "no hard hat",
        "bare head",
        "no safety helmet",
    ),
    Role.NO_VEST: ("no vest", "without vest", "no safety vest", "no hi vis vest"),
}
_DEFAULT_ROLE = {name: role for role, names in _DEFAULT_NAMES.items() for name in names}


def normalize_class_name(name: str) -> str:
    """'NO-Safety_Vest ' -> 'no safety vest': how class names are compared with the defaults."""
    return re.sub(r"\s+", " ", re.sub(r"[-_]", " ", name)).strip().lower()


def default_role(class_name: str) -> Role | None:
    return _DEFAULT_ROLE.get(normalize_class_name(class_name))


@dataclass(frozen=True)
class ClassEntry:
    name: str
    prompts: tuple[str, ...]
    role: Role
    where: str  # "file:line"


@dataclass(frozen=True)
class PromptsFile:
    path: Path
    entries: tuple[ClassEntry, ...]

    def resolve(self, class_names: Sequence[str]) -> ClassRoles:
        """Roles of the site's classes (site-wide ids: every model's classes in order).
        Raises ConfigError for an entry that matches no class of the model."""
        return _resolve(self.entries, class_names)


@dataclass(frozen=True, eq=False)
class ClassRoles:
    """Role of every site-wide class id."""

    class_names: tuple[str, ...]
    roles: tuple[Role, ...]  # by class id

    @classmethod
    def from_names(cls, class_names: Sequence[str]) -> ClassRoles:
        """Default roles by class name (no prompts file)."""
        return _resolve((), class_names)

    def ids_of(self, *roles: Role) -> np.ndarray:
        """Class ids (int32) having any of `roles`."""
        return np.array(
            [index for index, role in enumerate(self.roles) if role in roles], dtype=np.int32
        )

    def mask(self, class_id: np.ndarray, *roles: Role) -> np.ndarray:
        """(N,) bool: which detections (by site-wide class id) have one of `roles`; an id
        outside the site's classes has none."""
        table = np.array([role in roles for role in self.roles] + [False], dtype=bool)
        ids = np.asarray(class_id, dtype=np.intp)
        return table[np.where((ids >= 0) & (ids < len(self.roles)), ids, len(self.roles))]

    def role_of(self, class_id: int) -> Role:
        return self.roles[class_id] if 0 <= class_id < len(self.roles) else Role.IGNORE

    def watches(self, item: PpeItem) -> bool:
        """Whether any class proves the presence of `item` (else it can never be judged)."""
        return any(ROLE_ITEM.get(role, (None, False)) == (item, True) for role in self.roles)


def load_prompts(path: Path) -> PromptsFile:
    """Read a prompts YAML (module docstring). Raises ConfigError with file:line messages."""
    if not path.is_file():
        raise ConfigError([f"{path}: prompts file not found"])
    try:
        document = load_yaml(path)
    except (YamlSyntaxError, UnicodeDecodeError) as error:
        raise ConfigError([str(error)]) from None
    classes = document.data.get("classes") if isinstance(document.data, dict) else None
    if isinstance(classes, list) and classes and all(isinstance(n, str) for n in classes):
        classes = {name: [name] for name in classes}
    if not isinstance(classes, dict) or not classes:
        raise ConfigError(
            [
                f"{_where(document, ('classes',))} classes: expected a mapping of class name "
                "to a list of prompts, e.g. `helmet: [hard hat]`, or to `{role: ..., prompts: [...]}`"
            ]
        )
    entries, problems = [], []
    for name, value in classes.items():
        try:
            entries.append(_entry(document, str(name), value))
        except ValueError as error:
            problems.append(f"{_where(document, ('classes', name))} classes.{name}: {error}")
    if problems:
        raise ConfigError(problems)
    return PromptsFile(path, tuple(entries))


def _entry(document: YamlDocument, name: str, value: object) -> ClassEntry:
    role_text: object = None
    prompts: object = [name] if value is None else value
    if isinstance(value, dict):
        unknown = sorted(set(value) - {"role", "prompts"})
        if unknown:
            raise ValueError(f"unknown keys {', '.join(map(str, unknown))} (use role:, prompts:)")
        role_text, prompts = value.get("role"), value.get("prompts", [name])
    if isinstance(prompts, str):
        prompts = [prompts]
    if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) for p in prompts):
        raise ValueError("expected a list of text prompts")
    choices = ", ".join(role.value for role in Role)
    if role_text is None:
        role = default_role(name)
        if role is None:
            close = difflib.get_close_matches(
                normalize_class_name(name), list(_DEFAULT_ROLE), n=1, cutoff=0.8
            )
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ValueError(
                f"no role is known for a class named '{name}'{hint}; add `role:` ({choices})"
            )
    elif role_text in {r.value for r in Role}:
        role = Role(role_text)
    else:
        raise ValueError(f"role must be one of {choices} (got {role_text!r})")
    where = _where(document, ("classes", name))
    return ClassEntry(name, tuple(prompts), role, where)


def _where(document: YamlDocument, key_path: tuple[str | int, ...]) -> str:
    line = document.line_of(key_path)
    return f"{document.path}:{line}" if line else str(document.path)


def _resolve(entries: Sequence[ClassEntry], class_names: Sequence[str]) -> ClassRoles:
    names = tuple(class_names)
    assigned: dict[int, tuple[Role, ClassEntry]] = {}
    problems = []
    for entry in entries:
        ids = [i for i, n in enumerate(names) if n == entry.name]
        if not ids:
            ids = [i for i, n in enumerate(names) if n in entry.prompts]
            lacking = [p for p in entry.prompts if p not in names]
            if not ids or lacking:
                problems.append(_missing_class(entry, names, lacking if ids else []))
                continue
        for class_id in ids:
            previous = assigned.get(class_id)
            if previous is not None and previous[0] is not entry.role:
                problems.append(
                    f"{entry.where} classes.{entry.name}: model class '{names[class_id]}' is "
                    f"already {previous[0].value} by classes.{previous[1].name}"
                )
            assigned[class_id] = (entry.role, entry)
    if problems:
        raise ConfigError(problems)
    roles = tuple(
        assigned[i][0] if i in assigned else default_role(name) or Role.IGNORE
        for i, name in enumerate(names)
    )
    return ClassRoles(names, roles)


def _missing_class(entry: ClassEntry, names: tuple[str, ...], lacking: list[str]) -> str:
    known = ", ".join(repr(n) for n in names) or "none"
    if lacking:
        what = f"the model lacks the prompts {', '.join(repr(p) for p in lacking)}"
    else:
        what = f"the model has no class '{entry.name}' (nor its prompts)"
    close = difflib.get_close_matches(entry.name, names, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return (
        f"{entry.where} classes.{entry.name}: {what}{hint}; its classes are {known}. "
        "Fix the name or re-export the model with these prompts"
    )
