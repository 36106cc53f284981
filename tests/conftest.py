"""Shared fixtures of the test suite: the real data mirror, an isolated cache and a local
HTTP server that stands in for raw.githubusercontent.com.

No fixture here is autouse: tests that do not ask for them are unaffected.
"""
from __future__ import annotations

import http.server
import os
import shutil
import socket
import socketserver
import threading
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RAW_PREFIX = "https://raw.githubusercontent.com"
MIRROR_ENV = "DLBI_DATA_MIRROR"
DATA_ENV = ("DLBI_DATA_MIRROR", "DLBI_CACHE", "DLBI_OFFLINE", "DLBI_DATA_URL")


def find_mirror() -> Path | None:
    """The real data mirror: ``$DLBI_DATA_MIRROR`` if set, else ``<repo>/../shared/data``."""
    value = os.environ.get(MIRROR_ENV, "").strip()
    path = Path(value).expanduser() if value else ROOT.parent / "shared" / "data"
    path = path.resolve()
    return path if (path / "brain_mri").is_dir() else None


@pytest.fixture(scope="session")
def mirror() -> Path:
    """Absolute path of the real data mirror (skips the test when there is none)."""
    path = find_mirror()
    if path is None:
        where = os.environ.get(MIRROR_ENV) or str(ROOT.parent / "shared" / "data")
        pytest.skip(f"no data mirror at {where} (set {MIRROR_ENV} to the folder that holds "
                    "brain_mri, brain_mri_masks and chest_xray)")
    return path


@pytest.fixture
def mirror_env(mirror, tmp_path, monkeypatch) -> Path:
    """Use the real mirror: ``DLBI_DATA_MIRROR`` set, offline, cache in ``tmp_path``."""
    monkeypatch.setenv(MIRROR_ENV, str(mirror))
    monkeypatch.setenv("DLBI_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("DLBI_OFFLINE", "1")
    monkeypatch.delenv("DLBI_DATA_URL", raising=False)
    return mirror


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch) -> Path:
    """An empty cache (``DLBI_CACHE``) in ``tmp_path``; no mirror, no offline flag, no URL
    override. Tests that must not download set ``DLBI_OFFLINE`` themselves."""
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("DLBI_CACHE", str(cache))
    for name in ("DLBI_DATA_MIRROR", "DLBI_OFFLINE", "DLBI_DATA_URL"):
        monkeypatch.delenv(name, raising=False)
    return cache


# ----------------------------------------------------------------------------------------
# A local stand-in for raw.githubusercontent.com
# ----------------------------------------------------------------------------------------
HTTP_FILES = (  # brain_mri files served by http_mirror (one with a space in its name)
    "yes/Y1.jpg", "yes/Y10.jpg", "yes/Y100.JPG", "no/1 no.jpeg", "no/No15.jpg",
)


def url_path(url: str) -> str:
    """The unquoted path of a manifest URL after ``https://raw.githubusercontent.com/``."""
    assert url.startswith(RAW_PREFIX + "/"), url
    return urllib.parse.unquote(url[len(RAW_PREFIX) + 1:])


@dataclass
class HttpMirror:
    """State of the local server. ``corrupt``/``truncate``/``chunked_cut`` hold manifest
    file names (``yes/Y1.jpg``) that the server mistreats; ``requests`` logs every GET path."""

    url: str
    root: Path
    rows: dict  # manifest file name -> manifest row (dict)
    requests: list = field(default_factory=list)
    corrupt: set = field(default_factory=set)
    truncate: set = field(default_factory=set)
    chunked_cut: set = field(default_factory=set)

    def hits(self, file: str) -> int:
        """How many GET requests asked for manifest file ``file``."""
        want = url_path(self.rows[file]["url"])
        return sum(p == want for p in self.requests)


def _make_handler(state: HttpMirror):
    root = state.root.resolve()
    by_path = {url_path(r["url"]): f for f, r in state.rows.items()}

    class Handler(http.server.BaseHTTPRequestHandler):
        timeout = 10  # a stuck client can not hold the server forever

        def log_message(self, *args):  # keep pytest output clean
            pass

        def do_GET(self):  # noqa: N802 - http.server API
            rel = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path).lstrip("/")
            state.requests.append(rel)
            target = (root / rel).resolve()
            if root not in target.parents or not target.is_file():
                self.send_error(404, "not found")
                return
            body = target.read_bytes()
            file = by_path.get(rel)
            if file in state.corrupt:  # same length, different bytes
                body = bytearray(body)
                body[len(body) // 2] ^= 0xFF
                body = bytes(body)
            if file in state.chunked_cut:  # chunked transfer that stops mid-way
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                half = body[: len(body) // 2]
                self.wfile.write(b"%x\r\n" % len(half) + half + b"\r\n")
                self.wfile.flush()
                self.close_connection = True
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))  # always the full length
            self.end_headers()
            if file in state.truncate:  # announce everything, send half, hang up
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

    return Handler


class _QuietServer(http.server.HTTPServer):
    """HTTPServer without the reverse-DNS lookup of ``server_bind`` (slow without DNS)."""

    def server_bind(self):
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


def _serve_raw(mirror: Path, tmp_path: Path, monkeypatch, files: dict):
    """Start the local stand-in for raw.githubusercontent.com serving ``files``
    (``{dataset: [manifest file names]}``) copied from the real mirror; returns
    ``(state, stop)``.  ``DLBI_DATA_URL`` points at it, the cache is an empty folder in
    ``tmp_path``, mirror and offline are unset."""
    from utils import data

    rows = {}
    root = tmp_path / "raw"
    for dataset, names in files.items():
        table = data.manifest(dataset).set_index("file").loc[list(names)].reset_index()
        for row in table.to_dict("records"):
            rows[row["file"]] = row
            dest = root / url_path(row["url"])
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(mirror / dataset / row["file"], dest)

    server = _QuietServer(("127.0.0.1", 0), None)
    state = HttpMirror(url=f"http://127.0.0.1:{server.server_address[1]}", root=root, rows=rows)
    server.RequestHandlerClass = _make_handler(state)
    server.timeout = 1
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True, name="http_mirror")
    thread.start()

    cache = tmp_path / "cache"
    cache.mkdir(exist_ok=True)
    monkeypatch.setenv("DLBI_CACHE", str(cache))
    monkeypatch.setenv("DLBI_DATA_URL", state.url)
    monkeypatch.delenv("DLBI_DATA_MIRROR", raising=False)
    monkeypatch.delenv("DLBI_OFFLINE", raising=False)

    def stop():
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return state, stop


@pytest.fixture
def http_mirror(mirror, tmp_path, monkeypatch):
    """A local HTTP server laid out like raw.githubusercontent.com
    (``/<repo>/<commit>/<source_path>``) serving the brain_mri files in :data:`HTTP_FILES`,
    copied from the real mirror. ``DLBI_DATA_URL`` points at it, the cache is an empty
    folder in ``tmp_path`` (``state.root.parent / "cache"``), mirror and offline are unset."""
    state, stop = _serve_raw(mirror, tmp_path, monkeypatch, {"brain_mri": HTTP_FILES})
    try:
        yield state
    finally:
        stop()


@pytest.fixture
def raw_server(mirror, tmp_path, monkeypatch):
    """``raw_server({dataset: [files]})``: the server of :func:`http_mirror` for the given files
    of any data sets (manifest file names must differ between the sets); stopped at the end."""
    stops = []

    def start(files):
        state, stop = _serve_raw(mirror, tmp_path, monkeypatch, files)
        stops.append(stop)
        return state

    yield start
    for stop in stops:
        stop()


@pytest.fixture
def closed_port() -> int:
    """A local TCP port that nothing listens on (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
