"""A real RTSP server for the camera tests: gst-rtsp-server serving a video file by passthrough.

Runs under Debian's system python3 (the interpreter `python3-gi` belongs to), never the venv:

    /usr/bin/python3 tests/camera/rtsp_server.py --port 8554 --clip clip.mp4 [--user U --password P]

Binds 127.0.0.1, prints `READY <port>` on stdout once it accepts connections, and serves
`rtsp://127.0.0.1:<port>/stream` until killed. Each client gets its own pipeline from the start
of the clip. `--clip` may be an MP4 (demuxed) or a raw H.264 Annex B file (`.h264`).
"""

from __future__ import annotations

import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

MOUNT = "/stream"
ROLE = "viewer"


def launch_line(clip: str) -> str:
    demux = "" if clip.endswith(".h264") else "qtdemux ! "
    return (
        f'( filesrc location="{clip}" ! {demux}h264parse '
        "! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )


def require_basic_auth(
    server: GstRtspServer.RTSPServer, factory: GstRtspServer.RTSPMediaFactory, user: str, pw: str
) -> None:
    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, ROLE)
    auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, pw), token)
    server.set_auth(auth)
    permissions = GstRtspServer.RTSPPermissions()
    permissions.add_permission_for_role(ROLE, GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS, True)
    permissions.add_permission_for_role(ROLE, GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, True)
    factory.set_permissions(permissions)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--clip", required=True)
    parser.add_argument("--user")
    parser.add_argument("--password")
    args = parser.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch_line(args.clip))
    factory.set_shared(False)
    if args.user is not None:
        require_basic_auth(server, factory, args.user, args.password or "")
    server.get_mount_points().add_factory(MOUNT, factory)
    if server.attach(None) == 0:
        print(f"cannot bind 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
        sys.exit(1)
    print(f"READY {server.get_bound_port()}", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
