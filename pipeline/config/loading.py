"""Load `site.yaml`, apply command-line overrides, and explain every mistake precisely.

A bad config never starts a process: the caller prints `ConfigError` and exits with code 2.
Each message names the file, the line and the key path, e.g.
`configs/demo.yaml:14 cameras[1].target_fps: must be > 0`.
"""

from __future__ import annotations

import difflib
import enum
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from pipeline.config.models import SiteConfig
from pipeline.config.sources import SourceKind
from pipeline.yaml_source import KeyPath, YamlDocument, YamlSyntaxError, format_key_path, load_yaml


class ConfigError(Exception):
    """One or more user mistakes in the configuration; `str()` is the message to show."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Override:
    """A value given on the command line that replaces a top-level key of the YAML."""

    key: str
    value: Any
    flag: str


@dataclass(frozen=True)
class KeyLocator:
    """Where a key of the site configuration was written: `file:line key.path`, or the
    command-line flag that overrode it. Used for every message about a key, including those
    of the checks made after loading (supervisor/preflight.py)."""

    document: YamlDocument
    overrides: Mapping[str, Override] = field(default_factory=dict)

    @classmethod
    def for_file(cls, path: Path) -> KeyLocator:
        """A locator for `path` (no overrides); one without lines if it cannot be read."""
        try:
            return cls(load_yaml(path))
        except (OSError, YamlSyntaxError, UnicodeDecodeError):
            return cls(YamlDocument(path, None, None))

    def where(self, key_path: KeyPath) -> str:
        """`site.yaml:14 cameras[1].target_fps`, or the flag, e.g. `--prompts`."""
        if key_path and key_path[0] in self.overrides:
            return self.overrides[str(key_path[0])].flag
        line = self.document.line_of(key_path)
        where = f"{self.document.path}:{line}" if line else str(self.document.path)
        return f"{where} {format_key_path(key_path) or '(top level)'}"


@dataclass
class _Problems:
    locator: KeyLocator
    messages: list[str] = field(default_factory=list)

    def add(self, key_path: KeyPath, message: str) -> None:
        self.messages.append(f"{self.locator.where(key_path)}: {message}")


@dataclass(frozen=True)
class LoadedSite:
    config: SiteConfig
    locator: KeyLocator


def load_site_config(path: Path, overrides: list[Override] | None = None) -> SiteConfig:
    """Read and validate a site file. Raises ConfigError with every problem found."""
    return load_site(path, overrides).config


def load_site(path: Path, overrides: list[Override] | None = None) -> LoadedSite:
    """`load_site_config`, with the locator that places later messages on the file's lines."""
    if not path.is_file():
        raise ConfigError([f"{path}: config file not found"])
    try:
        document = load_yaml(path)
    except (YamlSyntaxError, UnicodeDecodeError) as error:
        raise ConfigError([str(error)]) from error
    if not isinstance(document.data, dict):
        raise ConfigError([f"{path}: expected a mapping of keys (site:, model:, cameras:, ...)"])
    data = dict(document.data)
    by_key = {override.key: override for override in overrides or []}
    for override in by_key.values():
        data[override.key] = override.value
    problems = _Problems(KeyLocator(document, by_key))
    try:
        config = SiteConfig.model_validate(data)
    except ValidationError as error:
        for item in error.errors():
            key_path, parent = resolve_key_path(item["loc"])
            problems.add(key_path, _describe(item, key_path, parent))
        raise ConfigError(problems.messages) from None
    _check_consistency(config, problems)
    if problems.messages:
        raise ConfigError(problems.messages)
    return LoadedSite(config, problems.locator)


def _check_consistency(config: SiteConfig, problems: _Problems) -> None:
    """Rules that span several keys."""
    first_seen: dict[str, int] = {}
    for index, camera in enumerate(config.cameras):
        if camera.id in first_seen:
            problems.add(
                ("cameras", index, "id"),
                f"duplicate camera id '{camera.id}' (also cameras[{first_seen[camera.id]}]); ids must be unique",
            )
        first_seen.setdefault(camera.id, index)
    if config.supervisor_backoff_max < config.supervisor_backoff_initial:
        problems.add(
            ("supervisor_backoff_max",),
            f"must be >= supervisor_backoff_initial ({config.supervisor_backoff_initial:g})",
        )
    if config.transport.max_in_flight >= config.transport.ring_slots:
        problems.add(
            ("transport", "max_in_flight"),
            f"must be smaller than transport.ring_slots ({config.transport.ring_slots}) so a free slot always exists",
        )


def _describe(item: Mapping[str, Any], key_path: KeyPath, parent: type[BaseModel] | None) -> str:
    """A short, actionable message for one pydantic error; `parent` is the model that holds
    the last key of `key_path` (for suggestions)."""
    kind = item["type"]
    context = item.get("ctx") or {}
    value = item.get("input")
    if kind == "extra_forbidden":
        return "unknown key" + _suggestion(key_path, parent)
    if kind == "missing":
        return "required key is missing"
    bounds = {
        "greater_than": ">",
        "greater_than_equal": ">=",
        "less_than": "<",
        "less_than_equal": "<=",
    }
    if kind in bounds:
        limit = next(iter(context.values()))
        if isinstance(limit, float) and limit.is_integer():
            limit = int(limit)
        return f"must be {bounds[kind]} {limit} (got {value!r})"
    if kind == "literal_error" or kind == "enum":
        return f"must be one of {context.get('expected')} (got {value!r})"
    if kind == "union_tag_invalid":
        kinds = ", ".join(kind.value for kind in SourceKind)
        return f"unknown source kind {context.get('tag')!r}; use one of: {kinds}"
    if kind == "union_tag_not_found":
        return f"needs a `kind:` key ({', '.join(kind.value for kind in SourceKind)})"
    if kind == "string_pattern_mismatch":
        return f"{value!r} may use only letters, digits, '_' and '-' (at most 32 characters)"
    return (
        f"{item['msg']} (got {value!r})"
        if value is not None and not isinstance(value, dict)
        else item["msg"]
    )


def _suggestion(key_path: KeyPath, parent: type[BaseModel] | None) -> str:
    """' (did you mean `x`?)' from the fields the model at that place accepts."""
    if parent is None or not key_path or not isinstance(key_path[-1], str):
        return ""
    close = difflib.get_close_matches(key_path[-1], list(parent.model_fields), n=1)
    return f" (did you mean `{close[0]}`?)" if close else ""


# pydantic's names for the branches of a union in an error location: `int`, `str`,
# `function-after[...]`, `is-instance[Path]`, ... (model branches go by their class name or,
# in a tagged union, by the tag).
_TYPE_LABELS = frozenset({"int", "str", "float", "bool", "bytes", "none", "list", "tuple"})


def resolve_key_path(
    loc: tuple[int | str, ...],
) -> tuple[tuple[int | str, ...], type[BaseModel] | None]:
    """(The key path as written in the YAML, the model holding its last key) for a pydantic
    error location: the branch labels pydantic inserts for unions (`source.rtsp.url` for the
    rtsp kind of a source) are not keys of the file and are dropped."""
    keys: list[int | str] = []
    annotation: Any = SiteConfig
    parent: type[BaseModel] | None = None
    for part in loc:
        annotation = _strip_annotated(annotation)
        members = _union_members(annotation)
        if members:
            branch = _branch(members, part)
            if branch is not None:
                annotation = branch
                continue
            annotation = next((m for m in members if _container(m)), None)
            annotation = _strip_annotated(annotation)
        keys.append(part)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            parent = annotation
            info = annotation.model_fields.get(str(part))
            annotation = info.annotation if info is not None else None
        elif get_origin(annotation) in (list, tuple) and isinstance(part, int):
            parent = None
            annotation = next(iter(get_args(annotation)), None)
        elif get_origin(annotation) is dict:
            parent = None
            annotation = get_args(annotation)[-1] if get_args(annotation) else None
        else:
            parent, annotation = None, None
    return tuple(keys), parent


def _strip_annotated(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _union_members(annotation: Any) -> tuple[Any, ...]:
    if get_origin(annotation) in (Union, types.UnionType):
        return tuple(_strip_annotated(arg) for arg in get_args(annotation))
    return ()


def _container(annotation: Any) -> bool:
    annotation = _strip_annotated(annotation)
    return (isinstance(annotation, type) and issubclass(annotation, BaseModel)) or get_origin(
        annotation
    ) in (list, tuple, dict)


def _branch(members: tuple[Any, ...], part: int | str) -> Any:
    """The union member that `part` labels, or None when `part` is a real key."""
    if not isinstance(part, str):
        return None
    for member in members:
        if isinstance(member, type) and issubclass(member, BaseModel):
            if part == member.__name__ or part in _literal_tags(member):
                return member
        elif part in _TYPE_LABELS or "[" in part:
            return member
    return None


def _literal_tags(model: type[BaseModel]) -> set[str]:
    """The values of a model's Literal fields (a tagged union's tags, e.g. `rtsp`)."""
    tags: set[str] = set()
    for info in model.model_fields.values():
        if get_origin(info.annotation) is Literal:
            tags.update(
                str(arg.value if isinstance(arg, enum.Enum) else arg)
                for arg in get_args(info.annotation)
            )
    return tags
