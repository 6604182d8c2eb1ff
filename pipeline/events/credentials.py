"""Secrets of the sinks: `${NAME}` references expanded from the environment at start.

The expanded values are returned too, so that each sink masks them in any text it logs
(`pipeline.camera.urls.mask_secrets`), whatever library produced that text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class MissingSecret(KeyError):
    """A sink's setting names an environment variable that is not set."""

    def __init__(self, sink: str, key: str, name: str) -> None:
        super().__init__(name)
        self.sink, self.key, self.name = sink, key, name

    def __str__(self) -> str:
        return (
            f"events sink {self.sink}: environment variable {self.name} is not set (its {self.key} "
            f"uses ${{{self.name}}}); export it in the environment that starts vigia"
        )


class Secrets:
    """Expands `${NAME}` in one sink's settings and remembers every value it substituted."""

    def __init__(self, sink: str, environ: Mapping[str, str]) -> None:
        self.sink = sink
        self._environ = environ
        self.values: list[str] = []

    def expand(self, text: str, key: str) -> str:
        def substitute(match: re.Match[str]) -> str:
            name = match[1]
            if name not in self._environ:
                raise MissingSecret(self.sink, key, name)
            value = self._environ[name]
            if value:
                self.values.append(value)
            return value

        return _VARIABLE.sub(substitute, text)
