"""The study's web app: a browser gets pairs of videos and sends back the one that looks more real.

    python -m vid2vid study serve --clips ab_clips --db study.sqlite

Python's standard HTTP server (``http.server``, one thread per request) and the page in
``vid2vid/study/static/``; nothing is fetched from elsewhere, so a study runs offline on a laptop
and a classroom's network. Routes, and nothing else:

=====================  =====================================================================
``GET /``              the page (``static/index.html``)
``GET /static/<name>`` its script and style sheet (those two names only)
``GET /clip/<token>``  a clip the manifest names, by its random token (byte ranges, for seeking)
``GET /api/state``     where the participant of the cookie is: their next pair, or done
``POST /api/start``    ``{"code": "..."}``: resume the participant with that code, or start one;
                       ``{}``: a new participant with a generated code (sets the cookie)
``POST /api/answer``   ``{"participant": id, "position": n, "choice": "left" | "right"}``
=====================  =====================================================================

Every answer is committed to the database before the reply (:class:`vid2vid.study.store.StudyStore`).
Refused, with a JSON ``{"error": ...}`` saying why: a path that is not one of the routes (``../``
included: files are served by token, never by a path from the request), a body that is not a JSON
object of the expected fields (400), over 4 KiB (413) or not ``application/json`` (415), an unknown
participant (404), an answer already given or out of order (409).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import urlsplit

from vid2vid.study.manifest import VIDEO_TYPES, StudyError, read_manifest
from vid2vid.study.store import LAYOUTS, AnswerRefused, StudyStore

__all__ = ["StudyServer", "make_server", "serve"]

COOKIE = "vid2vid_study"
MAX_BODY = 4096
_STATIC = {"index.html": "text/html; charset=utf-8", "study.js": "text/javascript; charset=utf-8",
           "study.css": "text/css; charset=utf-8"}
_CLIP = re.compile(r"/clip/([0-9a-f]{16})")
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class StudyServer(ThreadingHTTPServer):
    """An HTTP server of one study: ``store`` holds it, ``layout`` is how pairs are shown."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], store: StudyStore, layout: str = "side-by-side",
                 log: bool = True) -> None:
        if layout not in LAYOUTS:
            raise ValueError(f"layout {layout!r}: expected one of {LAYOUTS}")
        self.store, self.layout, self.log = store, layout, log
        folder = resources.files("vid2vid.study") / "static"
        self.static = {name: (folder.joinpath(name).read_bytes(), kind) for name, kind in _STATIC.items()}
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}/"

    def server_close(self) -> None:
        super().server_close()
        self.store.close()

    def page_state(self, pid: str | None) -> dict:
        """What the page needs: the study's question, layout and size, and the participant's next pair
        (clip URLs, left = shown first) when ``pid`` is a known participant."""
        base = {"question": self.store.manifest.question, "layout": self.layout, "total": self.store.n_trials}
        if pid is None or not self.store.known(pid):
            return base | {"participant": None, "answered": 0, "trial": None}
        state = self.store.state(pid)
        if state["trial"] is not None:
            t = state["trial"]
            state["trial"] = {"position": t["position"], "left": f"/clip/{t['left']}",
                              "right": f"/clip/{t['right']}"}
        return base | state


class _Handler(BaseHTTPRequestHandler):
    server: StudyServer
    server_version = "vid2vid-study"
    sys_version = ""

    def log_message(self, format: str, *args) -> None:
        pass  # no access log: the server prints participants starting and finishing instead

    # ------------------------------------------------------------------------------ responses

    def _headers(self, status: int, kind: str, length: int, extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(length))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()

    def _json(self, status: int, data: dict, extra: dict | None = None) -> None:
        body = json.dumps(data).encode()
        self._headers(status, "application/json", len(body), {"Cache-Control": "no-store", **(extra or {})})
        self.wfile.write(body)

    def _cookie(self) -> str | None:
        try:
            jar = SimpleCookie(self.headers.get("Cookie", ""))
        except CookieError:
            return None
        return jar[COOKIE].value if COOKIE in jar else None

    def _set_cookie(self, pid: str) -> dict:
        return {"Set-Cookie": f"{COOKIE}={pid}; Path=/; Max-Age=2592000; SameSite=Strict; HttpOnly"}

    # ------------------------------------------------------------------------------ GET

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        try:
            if path == "/":
                self._static("index.html")
            elif path.startswith("/static/") and path[len("/static/"):] in self.server.static:
                self._static(path[len("/static/"):])
            elif match := _CLIP.fullmatch(path):
                self._clip(match[1])
            elif path == "/api/state":
                self._json(200, self.server.page_state(self._cookie()))
            else:
                raise AnswerRefused(404, f"not found: {path}")
        except AnswerRefused as err:
            self._json(err.status, {"error": str(err)})
        except (BrokenPipeError, ConnectionResetError):
            pass  # the browser stopped loading a video: normal when a participant moves on

    def _static(self, name: str) -> None:
        body, kind = self.server.static[name]
        extra = {"Cache-Control": "no-cache"}
        if name == "index.html":  # the page loads nothing from elsewhere
            extra["Content-Security-Policy"] = "default-src 'self'; object-src 'none'; base-uri 'none'"
        self._headers(200, kind, len(body), extra)
        self.wfile.write(body)

    def _clip(self, token: str) -> None:
        path = self.server.store.clip_file(token)
        if path is None:
            raise AnswerRefused(404, f"no clip {token}")
        size = path.stat().st_size
        start, end, status = 0, size - 1, 200
        extra = {"Accept-Ranges": "bytes", "Cache-Control": "private, max-age=3600"}
        asked = _RANGE.fullmatch(self.headers.get("Range", "").strip())
        if asked and (asked[1] or asked[2]):  # one byte range (a video seeking); several: the whole file
            if asked[1]:
                start, end = int(asked[1]), min(int(asked[2]), size - 1) if asked[2] else size - 1
            else:  # the last N bytes
                start = max(0, size - int(asked[2]))
            if start > end:
                self._headers(416, "text/plain", 0, {"Content-Range": f"bytes */{size}"})
                return
            status, extra["Content-Range"] = 206, f"bytes {start}-{end}/{size}"
        self._headers(status, VIDEO_TYPES[path.suffix.lower()], end - start + 1, extra)
        with open(path, "rb") as f:
            f.seek(start)
            left = end - start + 1
            while left > 0:
                chunk = f.read(min(left, 1 << 16))
                if not chunk:
                    break
                self.wfile.write(chunk)
                left -= len(chunk)

    # ------------------------------------------------------------------------------ POST

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        try:
            if path not in ("/api/start", "/api/answer"):
                raise AnswerRefused(404, f"not found: {path}")
            body = self._body()
            if path == "/api/start":
                self._start(body)
            else:
                self._answer(body)
        except AnswerRefused as err:
            self._json(err.status, {"error": str(err)})

    def _body(self) -> dict:
        """The request's JSON object; refused when absent, too large, of another type, or not JSON."""
        length = self.headers.get("Content-Length", "")
        if not length.isdigit():
            raise AnswerRefused(411, "expected a JSON body with a Content-Length")
        if int(length) > MAX_BODY:
            self.close_connection = True  # the body is not read
            raise AnswerRefused(413, f"a body of {length} bytes; at most {MAX_BODY} are accepted")
        raw = self.rfile.read(int(length))
        if self.headers.get_content_type() != "application/json":
            raise AnswerRefused(415, f"Content-Type {self.headers.get_content_type()!r}; expected "
                                     "application/json")
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise AnswerRefused(400, f"the body is not JSON ({err})") from None
        if not isinstance(data, dict):
            raise AnswerRefused(400, f"expected a JSON object, got {type(data).__name__}")
        return data

    def _start(self, body: dict) -> None:
        if set(body) - {"code"}:
            raise AnswerRefused(400, f"unknown field(s) {sorted(set(body) - {'code'})}; expected 'code'")
        code = body.get("code")
        if code is not None and not isinstance(code, str):
            raise AnswerRefused(400, f"code: expected a string, got {code!r}")
        cookie = self._cookie()
        store = self.server.store
        before = store.counts()["participants"]
        if code and code.strip():
            pid = store.start(code)
        elif cookie is not None and store.known(cookie):
            pid = cookie
        else:
            pid = store.start()
        state = self.server.page_state(pid)
        if self.server.log and (now := store.counts()["participants"]) > before:
            print(f"participant {pid} started ({now} participants)", flush=True)
        self._json(200, state, self._set_cookie(pid))

    def _answer(self, body: dict) -> None:
        expected = {"participant": str, "position": int, "choice": str}
        if set(body) != set(expected):
            raise AnswerRefused(400, f"expected the fields {sorted(expected)}, got {sorted(body)}")
        for key, kind in expected.items():
            if not isinstance(body[key], kind) or isinstance(body[key], bool):
                raise AnswerRefused(400, f"{key}: expected {kind.__name__}, got {body[key]!r}")
        store = self.server.store
        store.answer(body["participant"], body["position"], body["choice"], self.server.layout)
        state = self.server.page_state(body["participant"])
        if self.server.log and state["trial"] is None:
            print(f"participant {body['participant']} finished all {state['total']} pairs "
                  f"({store.counts()['answers']} answers in {store.path})", flush=True)
        self._json(200, state)


def make_server(clips: str | os.PathLike, db: str | os.PathLike, host: str = "127.0.0.1", port: int = 8000,
                layout: str = "side-by-side", seed: int | None = None, log: bool = True) -> StudyServer:
    """A server of the study folder ``clips`` (:func:`vid2vid.study.read_manifest`) whose answers go
    to ``db`` (created from the manifest when new). ``port=0``: any free port (``server.url``).
    Run it with ``server.serve_forever()`` (in a thread, e.g. from a notebook), stop it with
    ``server.shutdown()`` and ``server.server_close()``."""
    store = StudyStore(db, read_manifest(clips), seed=seed)
    try:
        return StudyServer((host, port), store, layout, log)
    except OSError as err:
        store.close()
        raise StudyError(f"cannot listen on {host}:{port} ({err.strerror or err}); another program "
                         "may be using the port: try another --port") from None


def _lan_address() -> str | None:
    """This machine's address on its network (what other machines in a classroom open), if any."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("192.0.2.1", 9))  # a documentation address: connecting a UDP socket sends nothing
        return s.getsockname()[0]
    return None


def serve(clips: str | os.PathLike, db: str | os.PathLike, host: str = "127.0.0.1", port: int = 8000,
          layout: str = "side-by-side") -> None:
    """Serve a study until interrupted (Ctrl-C), printing where participants open it."""
    server = make_server(clips, db, host, port, layout)
    counts = server.store.counts()
    print(f"study {clips}: {counts['pairs']} pairs per participant, {counts['checks']} of them attention "
          f"checks, shown {layout}; answers go to {db} (participants so far: {counts['participants']}, "
          f"answers: {counts['answers']})")
    if host in ("0.0.0.0", ""):
        lan = _lan_address()
        if lan:
            print(f"other machines on this network open http://{lan}:{server.server_address[1]}/")
    print(f"serving at {server.url} (Ctrl-C stops; every answer is saved as it comes)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped", flush=True)
    finally:
        server.server_close()
