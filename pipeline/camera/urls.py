"""Camera URLs: secrets from environment variables, and passwords kept out of every message.

A site file names secrets instead of holding them:

    url: rtsp://admin:${CAM063_PASSWORD}@10.0.0.63/stream1

The camera process expands `${NAME}` from its environment just before opening the stream, and
everything that shows a URL (log lines, errors, the dashboard) shows `mask_url(url)`:
`rtsp://admin:***@10.0.0.63/stream1`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

MASK = "***"

# `${NAME}`: NAME as in a POSIX shell variable.
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_BAD_VARIABLE = re.compile(r"\$\{(?![A-Za-z_][A-Za-z0-9_]*\})")
# scheme://user:password@ -- the password runs to the last '@' before the path, so that an
# unencoded '@' inside it is masked too.
_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^/?#:@\s]*:)(?P<secret>[^/?#\s]*)@")
# ?password=...&pwd=... (some cameras take credentials as query parameters)
_QUERY_SECRET = re.compile(
    r"(?P<head>[?&](?:password|passwd|pwd|pass|token|auth|key)=)(?P<secret>[^&#\s]*)",
    re.IGNORECASE,
)


class MissingVariable(KeyError):
    """A `${NAME}` in a camera URL names an environment variable that is not set."""

    def __init__(self, camera_id: str, name: str) -> None:
        super().__init__(name)
        self.camera_id = camera_id
        self.name = name

    def __str__(self) -> str:
        return (
            f"camera {self.camera_id}: environment variable {self.name} is not set "
            f"(its URL uses ${{{self.name}}}); export it in the environment that starts vigia"
        )


def mask_url(url: str) -> str:
    """`url` with any password (user:PASSWORD@, ?password=...) replaced by `***`.

    Also safe on free text: every URL-shaped credential in it is masked.
    """
    masked = _USERINFO.sub(lambda m: f"{m['head']}{MASK}@", url)
    return _QUERY_SECRET.sub(lambda m: f"{m['head']}{MASK}" if m["secret"] else m[0], masked)


def mask_secrets(text: str, secrets: Iterable[str]) -> str:
    """`mask_url(text)`, and every literal occurrence of `secrets` replaced by `***`: for
    messages from libraries that may echo a credential outside URL syntax."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return mask_url(text)


def url_variables(url: str) -> list[str]:
    """Names of the `${NAME}` references in `url`, in order of appearance."""
    return _VARIABLE.findall(url)


def check_url_variables(url: str) -> None:
    """Raises ValueError (the message masks the URL) on a malformed `${...}` reference."""
    if _BAD_VARIABLE.search(url):
        raise ValueError(
            f"malformed variable reference in {mask_url(url)!r}: write ${{NAME}} with NAME made "
            "of letters, digits and '_' (not starting with a digit)"
        )


def expand_url(url: str, camera_id: str, environ: Mapping[str, str]) -> tuple[str, list[str]]:
    """(`url` with every `${NAME}` replaced by `environ[NAME]`, the substituted values).

    The values are returned so that callers can mask them in any text a library produces.
    Raises MissingVariable naming the camera and the variable.
    """
    values: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        name = match[1]
        if name not in environ:
            raise MissingVariable(camera_id, name)
        values.append(environ[name])
        return environ[name]

    return _VARIABLE.sub(substitute, url), values
