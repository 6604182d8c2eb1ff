"""Load `site.yaml`, apply command-line overrides, and explain every mistake precisely.

A bad config never starts a process: the caller prints `ConfigError` and exits with code 2.
Each message names the file, the line and the key path, e.g.
`configs/demo.yaml:14 cameras[1].target_fps: must be > 0`.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from pipeline.config.models import SiteConfig, SourceKind
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


@dataclass
class _Problems:
    document: YamlDocument
    overrides: Mapping[str, Override] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)

    def add(self, key_path: KeyPath, message: str) -> None:
        if key_path and key_path[0] in self.overrides:
            self.messages.append(f"{self.overrides[str(key_path[0])].flag}: {message}")
            return
        line = self.document.line_of(key_path)
        where = f"{self.document.path}:{line}" if line else str(self.document.path)
        self.messages.append(f"{where} {format_key_path(key_path) or '(top level)'}: {message}")


def load_site_config(path: Path, overrides: list[Override] | None = None) -> SiteConfig:
    """Read and validate a site file. Raises ConfigError with every problem found."""
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
    problems = _Problems(document, by_key)
    try:
        config = SiteConfig.model_validate(data)
    except ValidationError as error:
        for item in error.errors():
            key_path = tuple(item["loc"])
            problems.add(key_path, _describe(item, key_path))
        raise ConfigError(problems.messages) from None
    _check_consistency(config, problems)
    if problems.messages:
        raise ConfigError(problems.messages)
    return config


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
    if config.transport.max_in_flight >= config.transport.ring_slots:
        problems.add(
            ("transport", "max_in_flight"),
            f"must be smaller than transport.ring_slots ({config.transport.ring_slots}) so a free slot always exists",
        )


def _describe(item: Mapping[str, Any], key_path: KeyPath) -> str:
    """A short, actionable message for one pydantic error."""
    kind = item["type"]
    context = item.get("ctx") or {}
    value = item.get("input")
    if kind == "extra_forbidden":
        return "unknown key" + _suggestion(key_path)
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


def _suggestion(key_path: KeyPath) -> str:
    """' (did you mean `x`?)' from the fields the model at that place accepts."""
    model: type[BaseModel] | None = SiteConfig
    for key in key_path[:-1]:
        if model is None or isinstance(key, int):
            continue
        info = model.model_fields.get(key)
        annotation = info.annotation if info else None
        model = _model_in(annotation)
    if model is None or not isinstance(key_path[-1], str):
        return ""
    close = difflib.get_close_matches(key_path[-1], list(model.model_fields), n=1)
    return f" (did you mean `{close[0]}`?)" if close else ""


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
