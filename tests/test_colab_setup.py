"""The chapters' setup cell in an environment that looks like Colab, tested offline.

A local HTTP server stands in for GitHub (a bare clone of this repository served over git's
smart HTTP protocol through ``git http-backend``); a stub ``google.colab`` module makes the cell take its Colab branch;
pip runs with ``--dry-run --report`` (set through pip's environment variables) so we can see
what it *would* install: TensorFlow, already present as in Colab, must not be among it.
"""
from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from utils import skeleton

ROOT = Path(__file__).resolve().parent.parent


class _GitSmartHTTP(http.server.BaseHTTPRequestHandler):
    """Serves repositories under ``root`` over git's smart HTTP protocol (``git http-backend``),
    which, unlike plain file serving, supports the shallow clone the setup cell makes."""

    root = "."

    def log_message(self, *args):  # keep test output quiet
        pass

    def _cgi(self):
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        env = dict(os.environ, GIT_PROJECT_ROOT=self.root, GIT_HTTP_EXPORT_ALL="1",
                   PATH_INFO=path, QUERY_STRING=query, REQUEST_METHOD=self.command,
                   CONTENT_TYPE=self.headers.get("Content-Type", ""),
                   CONTENT_LENGTH=str(length), REMOTE_ADDR="127.0.0.1")
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True,
                             timeout=120).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.decode("latin-1").split("\r\n"):
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.strip().split()[0])
            elif key:
                headers.append((key, value.strip()))
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _cgi


@pytest.fixture
def git_server(tmp_path):
    head = subprocess.run(["git", "rev-parse", "--abbrev-ref", "HEAD"], cwd=ROOT,
                          capture_output=True, text=True)
    if head.returncode != 0:
        pytest.skip("not a git checkout")
    served = tmp_path / "served"
    served.mkdir()
    subprocess.run(["git", "clone", "--quiet", "--bare", str(ROOT), str(served / "book.git")], check=True)
    handler = type("Handler", (_GitSmartHTTP,), {"root": str(served)})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/book.git", head.stdout.strip()
    server.shutdown()
    thread.join(timeout=10)


def test_setup_cell_in_fake_colab(tmp_path, git_server):
    url, branch = git_server
    home = tmp_path / "content" / "dlbi-book"
    fake = tmp_path / "fake_colab"
    (fake / "google" / "colab").mkdir(parents=True)
    (fake / "google" / "__init__.py").write_text("")
    (fake / "google" / "colab" / "__init__.py").write_text("")
    report = tmp_path / "pip-report.json"
    cell = skeleton.setup_cell_source(url=url, branch=branch, home=str(home))
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import sys, os, json\n"
        "import google.colab\n"
        + cell + "\n"
        "import utils\n"
        "print(json.dumps({'cwd': os.getcwd(), 'utils': utils.__file__, 'path0': sys.path[0]}))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(fake), PIP_DRY_RUN="1", PIP_REPORT=str(report),
               PIP_DISABLE_PIP_VERSION_CHECK="1", GIT_TERMINAL_PROMPT="0")
    run = subprocess.run([sys.executable, str(probe)], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    facts = json.loads(run.stdout.strip().splitlines()[-1])
    assert (home / "requirements.txt").exists() and (home / "utils" / "__init__.py").exists()
    assert facts["cwd"] == str(home / "notebooks")
    assert facts["path0"] == str(home)
    assert facts["utils"].startswith(str(home)), "the cloned utils must be imported"
    would_install = {item["metadata"]["name"].lower()
                     for item in json.loads(report.read_text()).get("install", [])}
    assert "tensorflow" not in would_install and "tensorflow-cpu" not in would_install
    assert "keras" not in would_install
    # running the cell again (a re-run in the same Colab session) does not clone again
    again = subprocess.run([sys.executable, str(probe)], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]


def test_setup_cell_does_nothing_locally(tmp_path):
    before = list(sys.path)
    cwd = os.getcwd()
    exec(compile(skeleton.setup_cell_source(home=str(tmp_path / "never")), "setup", "exec"), {})
    assert sys.path == before and os.getcwd() == cwd
    assert not (tmp_path / "never").exists()
