"""Camera URLs: secrets from environment variables, and passwords kept out of every message.

A site file names secrets instead of holding them:

    url: rtsp://admin:${CAM063_PASSWORD}@10.0.0.63/stream1

The camera process expands `${NAME}` from its environment just before opening the stream, and
everything that shows a URL (log lines, errors, the dashboard) shows `mask_url(url)`:
`rtsp://admin:***@10.0.0.63/stream1`.

A value substituted into a URL's user or password (between `scheme://` and the `@` before
the host) is percent-encoded, so a password such as `p@ss:w/rd%41` works as it is typed in the
variable: FFmpeg and GStreamer decode it again. Elsewhere in the URL a value is substituted
as it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote

MASK = "***"

# `${NAME}`: NAME as in a POSIX shell variable.
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_BAD_VARIABLE = re.compile(r"\$\{(?![A-Za-z_][A-Za-z0-9_]*\})")
# scheme://USERINFO@ with USERINFO running to the last '@' before the path (a password
# typed with an unencoded '@' included).
_USERINFO_SPAN = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://(?P<userinfo>[^/?#\s]*)@")
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


def encode_userinfo(value: str) -> str:
    """`value` percent-encoded for a URL's user or password: every character but letters,
    digits and `-._~` (RFC 3986 unreserved), e.g. `p@ss:w/rd%41` -> `p%40ss%3Aw%2Frd%2541`."""
    return quote(value, safe="")


def _userinfo_spans(url: str) -> list[tuple[int, int]]:
    return [match.span("userinfo") for match in _USERINFO_SPAN.finditer(url)]


def expand_url(url: str, camera_id: str, environ: Mapping[str, str]) -> tuple[str, list[str]]:
    """(`url` with every `${NAME}` replaced by `environ[NAME]`, the substituted values).

    A value inside the URL's user or password is percent-encoded (`encode_userinfo`). The
    values are returned, each as given and as substituted where the two differ, so that
    callers can mask them in any text a library produces. Raises MissingVariable naming the
    camera and the variable.
    """
    values: list[str] = []
    spans = _userinfo_spans(url)

    def substitute(match: re.Match[str]) -> str:
        name = match[1]
        if name not in environ:
            raise MissingVariable(camera_id, name)
        value = environ[name]
        values.append(value)
        if any(start <= match.start() and match.end() <= end for start, end in spans):
            encoded = encode_userinfo(value)
            if encoded != value:
                values.append(encoded)
            return encoded
        return value

    return _VARIABLE.sub(substitute, url), values


def missing_variables(text: str, environ: Mapping[str, str]) -> list[str]:
    """Names of the `${NAME}` references in `text` that `environ` does not set."""
    return [name for name in dict.fromkeys(url_variables(text)) if name not in environ]


def secret_values(text: str, environ: Mapping[str, str]) -> tuple[str, ...]:
    """The values `text`'s `${NAME}` references take from `environ` (set ones only), as given
    and as substituted: what must never appear in a log line about that camera."""
    values: list[str] = []
    for name in dict.fromkeys(url_variables(text)):
        if environ.get(name):
            values += [environ[name], encode_userinfo(environ[name])]
    return tuple(dict.fromkeys(values))
