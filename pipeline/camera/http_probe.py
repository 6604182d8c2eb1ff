"""Why an HTTP(S) camera refused a stream: its answer to a plain request."""

from __future__ import annotations

import ssl
import urllib.error
import urllib.parse
import urllib.request


def http_error_status(url: str, timeout: float) -> tuple[int, str] | None:
    """(code, reason) of the error an HTTP(S) camera answers a plain request with, or None.

    FFmpeg reports HTTP errors (401 Unauthorized...) below the log level OpenCV lets through,
    so after a failed open the server is asked directly, with the URL's credentials (basic or
    digest) and, as FFmpeg does by default, without verifying a TLS certificate.
    """
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    netloc = f"{host}:{parts.port}" if parts.port else host
    bare = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    passwords = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    if parts.username is not None:
        user, password = parts.username, parts.password or ""
        passwords.add_password(
            None, bare, urllib.parse.unquote(user), urllib.parse.unquote(password)
        )
    opener = urllib.request.build_opener(
        urllib.request.HTTPBasicAuthHandler(passwords),
        urllib.request.HTTPDigestAuthHandler(passwords),
        urllib.request.HTTPSHandler(context=ssl._create_unverified_context()),
    )
    request = urllib.request.Request(bare, headers={"Range": "bytes=0-0"})
    try:
        with opener.open(request, timeout=timeout):
            return None
    except urllib.error.HTTPError as error:
        return error.code, str(error.reason)
    except (OSError, ValueError):
        return None  # unreachable: FFmpeg's message (or the timeout) says enough
