"""Tests of the data layer (utils.data): manifests, the mirror, the cache, downloads from a
local stand-in for raw.githubusercontent.com (see tests/conftest.py) and image decoding.

Never touches the internet: downloads go to a local HTTP server, everything else is offline.
"""
from __future__ import annotations

import hashlib
import re
import shutil
import urllib.error
from pathlib import Path

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
Image = pytest.importorskip("PIL.Image")

from utils import data  # noqa: E402

COUNTS = {"brain_mri": 253, "brain_mri_masks": 128, "chest_xray": 707, "brain_mri_external": 307,
          "ixi_t1": 80, "hippocampus": 585, "adrenal_mnist3d": 2}
HEX64 = re.compile(r"^[0-9a-f]{64}$")
# brain_mri files whose bytes are PNG although the name ends in .jpg
PNG_NAMED_JPG = {"no/No15.jpg", "no/No17.jpg", "no/No18.jpg", "no/no 96.jpg", "no/no 98.jpg",
                 "no/no.jpg"}


def all_files(folder: Path) -> list[Path]:
    """Every file below ``folder``, hidden ones (``.x.part``) included."""
    return sorted(p for p in Path(folder).rglob("*") if p.is_file())


def flip_byte(path: Path, offset: int | None = None) -> None:
    raw = bytearray(Path(path).read_bytes())
    raw[len(raw) // 2 if offset is None else offset] ^= 0xFF
    Path(path).write_bytes(bytes(raw))


# ----------------------------------------------------------------------------------------
# Manifests
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("dataset", data.DATASETS)
def test_manifest_loads_and_is_well_formed(dataset):
    df = data.manifest(dataset)
    assert len(df) == COUNTS[dataset]
    assert {"file", "sha256", "bytes", "licence", "source_repo", "commit", "source_path",
            "url"} <= set(df.columns)
    assert df["sha256"].map(lambda s: bool(HEX64.match(s))).all()
    assert (df["bytes"] > 0).all()
    assert df["url"].str.startswith(data.RAW_PREFIX + "/").all()
    assert all(commit in url for commit, url in zip(df["commit"], df["url"]))
    assert df["commit"].map(lambda c: bool(re.fullmatch(r"[0-9a-f]{40}", c))).all()
    assert not df["file"].duplicated().any()
    assert not df["file"].str.lower().duplicated().any()  # also safe on case-insensitive disks
    assert df["licence"].str.len().gt(0).all()


def test_manifest_is_a_copy():
    df = data.manifest("brain_mri")
    df.loc[0, "sha256"] = "x"
    assert data.manifest("brain_mri").loc[0, "sha256"] != "x"


def test_brain_mri_labels():
    df = data.manifest("brain_mri")
    assert df["label"].value_counts().to_dict() == {"yes": 155, "no": 98}
    assert (df["file"].str.split("/").str[0] == df["label"]).all()


def test_unknown_dataset_and_file():
    with pytest.raises(data.DataError, match="unknown data set"):
        data.manifest("mnist")
    with pytest.raises(data.DataError, match="not in the manifest"):
        data.fetch("brain_mri", files=["yes/nope.jpg"])


@pytest.mark.parametrize("dataset", data.DATASETS)
def test_manifest_agrees_with_mirror_manifest(mirror, dataset):
    theirs = pd.read_csv(mirror / dataset / "manifest.csv", dtype=str, keep_default_na=False)
    ours = data.manifest(dataset)
    assert not theirs["file"].duplicated().any()
    assert set(theirs["file"]) <= set(ours["file"])
    merged = ours.merge(theirs, on="file", suffixes=("", "_mirror"))
    assert len(merged) == len(theirs)
    assert (merged["sha256"] == merged["sha256_mirror"]).all()
    assert (merged["bytes"] == merged["bytes_mirror"].astype(int)).all()
    # files that the mirror's manifest does not list (the chest X-ray annotation tables)
    # must still be in the mirror folder with the committed sha256
    extra = ours[~ours["file"].isin(theirs["file"])]
    assert len(extra) == {"chest_xray": 3}.get(dataset, 0)
    for row in extra.itertuples():
        assert data.sha256_file(mirror / dataset / row.file) == row.sha256, row.file


# ----------------------------------------------------------------------------------------
# The mirror (DLBI_DATA_MIRROR)
# ----------------------------------------------------------------------------------------
def test_fetch_from_mirror(mirror_env):
    df = data.fetch("brain_mri", progress=False)
    assert len(df) == 253
    paths = [Path(p) for p in df["path"]]
    assert all(p.is_file() for p in paths)
    assert all(p.is_relative_to(mirror_env / "brain_mri") for p in paths)
    assert list(df["file"]) == list(data.manifest("brain_mri")["file"])  # order kept
    assert "mirror" in data.describe_source()


def test_fetch_subset_keeps_requested_order(mirror_env):
    files = ["no/no 98.jpg", "yes/Y1.jpg"]
    df = data.fetch("brain_mri", files=files, progress=False)
    assert list(df["file"]) == files
    assert [Path(p).name for p in df["path"]] == ["no 98.jpg", "Y1.jpg"]


@pytest.fixture
def small_mirror(mirror, tmp_path, monkeypatch):
    """A temporary mirror holding copies of a few brain_mri files (offline, empty cache)."""
    files = ["yes/Y1.jpg", "yes/Y10.jpg", "no/1 no.jpeg"]
    root = tmp_path / "mirror"
    for f in files:
        (root / "brain_mri" / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(mirror / "brain_mri" / f, root / "brain_mri" / f)
    monkeypatch.setenv("DLBI_DATA_MIRROR", str(root))
    monkeypatch.setenv("DLBI_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("DLBI_OFFLINE", "1")
    monkeypatch.delenv("DLBI_DATA_URL", raising=False)
    return root


def test_corrupted_mirror_file_raises_integrity_error(small_mirror):
    ok = data.fetch("brain_mri", files=["yes/Y10.jpg", "no/1 no.jpeg"], progress=False)
    assert all(Path(p).is_relative_to(small_mirror) for p in ok["path"])

    bad = small_mirror / "brain_mri" / "yes" / "Y1.jpg"
    flip_byte(bad)
    expected = data.manifest("brain_mri").set_index("file").loc["yes/Y1.jpg", "sha256"]
    actual = data.sha256_file(bad)
    with pytest.raises(data.IntegrityError) as info:
        data.fetch("brain_mri", files=["yes/Y1.jpg"], progress=False)
    msg = str(info.value)
    assert "brain_mri/yes/Y1.jpg" in msg and str(bad) in msg
    assert expected in msg and actual in msg
    assert "Restore the original" in msg and "DLBI_DATA_MIRROR" in msg  # how to fix
    assert isinstance(info.value, data.DataError)


def test_file_missing_from_mirror_offline(small_mirror):
    with pytest.raises(data.MissingDataError) as info:
        data.fetch("brain_mri", files=["yes/Y100.JPG"], progress=False)
    msg = str(info.value)
    assert "brain_mri/yes/Y100.JPG" in msg and "DLBI_DATA_MIRROR" in msg
    assert str(small_mirror) in msg  # says where it looked


def test_mirror_env_nonexistent_folder(tmp_path, monkeypatch):
    missing = tmp_path / "no_such_folder"
    monkeypatch.setenv("DLBI_DATA_MIRROR", str(missing))
    with pytest.raises(data.DataError) as info:
        data.fetch("brain_mri", files=["yes/Y1.jpg"], progress=False)
    msg = str(info.value)
    assert "DLBI_DATA_MIRROR" in msg and "no_such_folder" in msg and "not a folder" in msg
    assert "brain_mri" in msg  # says what the folder must hold
    assert "misconfigured mirror" in data.describe_source()


def test_mirror_env_empty_folder(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("DLBI_DATA_MIRROR", str(empty))
    with pytest.raises(data.DataError, match=r"holds none of the data set folders.*nothing"):
        data.mirror_dir()
    (empty / "README.md").write_text("not data")
    with pytest.raises(data.DataError, match="README.md"):
        data.fetch("brain_mri", files=["yes/Y1.jpg"], progress=False)


def test_mirror_env_relative_path(mirror, tmp_path, monkeypatch):
    monkeypatch.chdir(mirror.parent)
    monkeypatch.setenv("DLBI_DATA_MIRROR", mirror.name)
    assert data.mirror_dir() == mirror
    monkeypatch.setenv("DLBI_DATA_MIRROR", "   ")
    assert data.mirror_dir() is None


# ----------------------------------------------------------------------------------------
# Downloads (local HTTP stand-in) and the cache
# ----------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def sleeps(monkeypatch) -> list:
    """The waits between download attempts, recorded instead of slept (keeps the tests fast)."""
    waited = []
    monkeypatch.setattr(data, "_sleep", waited.append)
    return waited


def test_download_success_and_cache_reuse(http_mirror):
    files = ["yes/Y1.jpg", "no/1 no.jpeg"]  # the second one is URL-encoded (%20)
    df = data.fetch("brain_mri", files=files, progress=False)
    cache = data.cache_dir() / "data" / "brain_mri"
    for file, path, sha in zip(df["file"], df["path"], df["sha256"]):
        assert Path(path) == cache / file
        assert data.sha256_file(Path(path)) == sha
        assert http_mirror.hits(file) == 1
    assert not [p for p in all_files(cache) if p.name.endswith(".part")]
    assert "cache" in data.describe_source()

    n = len(http_mirror.requests)
    again = data.fetch("brain_mri", files=files, progress=False)
    assert list(again["path"]) == list(df["path"])
    assert len(http_mirror.requests) == n  # served from the cache, no new request


def test_download_hash_mismatch_leaves_nothing(http_mirror):
    http_mirror.corrupt.add("yes/Y10.jpg")
    expected = http_mirror.rows["yes/Y10.jpg"]["sha256"]
    with pytest.raises(data.IntegrityError) as info:
        data.fetch("brain_mri", files=["yes/Y10.jpg"], progress=False)
    msg = str(info.value)
    assert "Y10.jpg" in msg and expected in msg and "actual" in msg
    assert "Nothing was saved" in msg
    assert http_mirror.hits("yes/Y10.jpg") == 1
    assert all_files(data.cache_dir()) == []  # neither the file nor a .part


def test_interrupted_download_leaves_nothing(http_mirror, sleeps):
    http_mirror.truncate.add("yes/Y100.JPG")
    with pytest.raises(data.DataError) as info:
        data.fetch("brain_mri", files=["yes/Y100.JPG"], progress=False)
    assert "Y100.JPG" in str(info.value)
    assert "interrupted" in str(info.value)
    assert "gave up after 3 attempts" in str(info.value)
    assert http_mirror.hits("yes/Y100.JPG") == 3 and sleeps == [1.0, 2.0]  # cut off: retried
    assert all_files(data.cache_dir()) == []
    # once the server behaves again the same call succeeds
    http_mirror.truncate.clear()
    df = data.fetch("brain_mri", files=["yes/Y100.JPG"], progress=False)
    assert data.sha256_file(Path(df["path"][0])) == http_mirror.rows["yes/Y100.JPG"]["sha256"]


def test_interrupted_chunked_download_is_a_data_error(http_mirror, sleeps):
    http_mirror.chunked_cut.add("no/No15.jpg")
    with pytest.raises(data.DataError) as info:
        data.fetch("brain_mri", files=["no/No15.jpg"], progress=False)
    assert "brain_mri/no/No15.jpg" in str(info.value)
    assert "failed 3 times" in str(info.value)
    assert http_mirror.hits("no/No15.jpg") == 3
    assert all_files(data.cache_dir()) == []


def test_file_not_on_server_is_missing(http_mirror):
    (http_mirror.root / data.manifest("brain_mri").set_index("file").loc[
        "yes/Y1.jpg", "url"][len(data.RAW_PREFIX) + 1:]).unlink()
    with pytest.raises(data.MissingDataError, match=r"brain_mri/yes/Y1\.jpg.*404"):
        data.fetch("brain_mri", files=["yes/Y1.jpg"], progress=False)
    assert all_files(data.cache_dir()) == []
    assert http_mirror.hits("yes/Y1.jpg") == 1  # a 404 is final: no retry


def test_server_unreachable(tmp_cache, closed_port, monkeypatch, sleeps):
    monkeypatch.setenv("DLBI_DATA_URL", f"http://127.0.0.1:{closed_port}")
    with pytest.raises(data.MissingDataError) as info:
        data.fetch("brain_mri", files=["yes/Y1.jpg"], progress=False)
    msg = str(info.value)
    assert "brain_mri/yes/Y1.jpg" in msg and "DLBI_DATA_MIRROR" in msg
    assert "failed 3 times" in msg and sleeps == [1.0, 2.0]  # refused: retried, then given up
    assert f"127.0.0.1:{closed_port}" in msg  # the URL that failed
    assert all_files(tmp_cache) == []


def test_offline_flag(http_mirror, monkeypatch):
    monkeypatch.setenv("DLBI_OFFLINE", "1")
    with pytest.raises(data.MissingDataError) as info:
        data.fetch("brain_mri", files=["yes/Y1.jpg"], progress=False)
    msg = str(info.value)
    assert "brain_mri/yes/Y1.jpg" in msg and "DLBI_DATA_MIRROR" in msg and "DLBI_OFFLINE" in msg
    assert http_mirror.requests == []  # offline means no request at all
    monkeypatch.setenv("DLBI_OFFLINE", "0")  # "0" means online
    data.fetch("brain_mri", files=["yes/Y1.jpg"], progress=False)
    assert http_mirror.hits("yes/Y1.jpg") == 1


def test_corrupted_cache_is_downloaded_again(http_mirror, capsys):
    df = data.fetch("brain_mri", files=["yes/Y1.jpg"], progress=False)
    cached = Path(df["path"][0])
    flip_byte(cached, 0)
    again = data.fetch("brain_mri", files=["yes/Y1.jpg"], progress=False)
    assert Path(again["path"][0]) == cached
    assert data.sha256_file(cached) == http_mirror.rows["yes/Y1.jpg"]["sha256"]
    assert http_mirror.hits("yes/Y1.jpg") == 2
    assert "cached copy is corrupted" in capsys.readouterr().err


def test_corrupted_cache_offline_is_reported_not_used(http_mirror, monkeypatch):
    df = data.fetch("brain_mri", files=["yes/Y1.jpg"], progress=False)
    cached = Path(df["path"][0])
    flip_byte(cached, 0)
    monkeypatch.setenv("DLBI_OFFLINE", "1")
    with pytest.raises(data.MissingDataError, match=r"brain_mri/yes/Y1\.jpg"):
        data.fetch("brain_mri", files=["yes/Y1.jpg"], progress=False)
    assert not cached.exists()  # the bad copy is gone, not silently used


def test_mirror_file_missing_falls_back_to_download(http_mirror, mirror, tmp_path,
                                                    monkeypatch):
    partial = tmp_path / "partial_mirror"
    (partial / "brain_mri" / "yes").mkdir(parents=True)
    shutil.copyfile(mirror / "brain_mri" / "yes" / "Y1.jpg", partial / "brain_mri/yes/Y1.jpg")
    monkeypatch.setenv("DLBI_DATA_MIRROR", str(partial))
    df = data.fetch("brain_mri", files=["yes/Y1.jpg", "yes/Y10.jpg"], progress=False)
    assert Path(df["path"][0]).is_relative_to(partial)
    assert Path(df["path"][1]).is_relative_to(data.cache_dir())
    assert http_mirror.hits("yes/Y1.jpg") == 0 and http_mirror.hits("yes/Y10.jpg") == 1


# ----------------------------------------------------------------------------------------
# Retries with backoff, against a loopback server that fails on purpose
# ----------------------------------------------------------------------------------------
class FlakyServer:
    """A loopback HTTP server that serves ``body`` at every path, except that request number
    ``i`` (0-based) behaves as ``script[i]`` says (the last entry repeats):

    ``"ok"``: the file; ``"drop"``: close the connection without an answer; ``"cut"``: announce
    the full length, send half, hang up; ``"500"``/``"503"``/``"404"``: that status.
    """

    def __init__(self, body: bytes, script):
        import http.server
        import socketserver
        import threading

        self.body, self.script, self.requests = body, list(script), []
        state = self

        class Handler(http.server.BaseHTTPRequestHandler):
            timeout = 10

            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802 - http.server API
                n = len(state.requests)
                state.requests.append(self.path)
                action = state.script[min(n, len(state.script) - 1)]
                if action == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)  # no status line at all
                    return
                if action.isdigit():
                    self.send_error(int(action), "failing on purpose")
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(state.body)))
                self.end_headers()
                if action == "cut":
                    self.wfile.write(state.body[: len(state.body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(state.body)

        class Server(http.server.HTTPServer):
            def server_bind(self):  # no reverse-DNS lookup
                socketserver.TCPServer.server_bind(self)
                self.server_name, self.server_port = self.server_address[:2]

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def flaky():
    """``flaky(script)`` starts a :class:`FlakyServer` with 3000 random bytes; all are closed
    at the end of the test."""
    servers = []
    body = np.random.default_rng(0).bytes(3000)

    def start(script):
        server = FlakyServer(body, script)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def sha_of(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


@pytest.mark.parametrize("failure", ["drop", "500", "503", "cut"])
def test_download_retries_after_a_failure_and_succeeds(flaky, tmp_path, sleeps, capsys,
                                                       failure):
    server = flaky([failure, "ok"])
    dest = tmp_path / "cache" / "file.bin"
    path = data.download(server.url + "/file.bin", dest, sha_of(server.body), len(server.body),
                         progress=True)
    assert path == dest and dest.read_bytes() == server.body  # verified, complete
    assert len(server.requests) == 2 and sleeps == [1.0]
    assert all_files(tmp_path) == [dest]  # no .part left from the failed attempt
    err = capsys.readouterr().err
    assert "file.bin: download attempt 1 of 3 failed" in err and "trying again in 1 s" in err


def test_download_backoff_doubles_and_is_configurable(flaky, tmp_path, sleeps):
    server = flaky(["500", "drop", "cut", "ok"])
    dest = tmp_path / "file.bin"
    data.download(server.url + "/f", dest, sha_of(server.body), len(server.body),
                  progress=False, attempts=4, backoff=0.25)
    assert sleeps == [0.25, 0.5, 1.0] and len(server.requests) == 4
    assert dest.read_bytes() == server.body


def test_download_gives_up_after_the_bounded_attempts(flaky, tmp_path, sleeps, monkeypatch):
    server = flaky(["500"])  # always fails
    dest = tmp_path / "file.bin"
    with pytest.raises(data.DownloadFailed) as info:
        data.download(server.url + "/f", dest, sha_of(server.body), len(server.body),
                      progress=False)
    assert info.value.attempts == 3 and len(server.requests) == 3 and sleeps == [1.0, 2.0]
    assert "500" in str(info.value) and "gave up after 3 attempts" in str(info.value)
    assert all_files(tmp_path) == []

    monkeypatch.setattr(data, "DOWNLOAD_ATTEMPTS", 2)  # the module default is configurable
    sleeps.clear()
    with pytest.raises(data.DownloadFailed, match="after 2 attempts"):
        data.download(server.url + "/f", dest, sha_of(server.body), progress=False)
    assert len(server.requests) == 5 and sleeps == [1.0]


def test_fetch_reports_a_download_that_always_fails(flaky, tmp_cache, sleeps, monkeypatch):
    """Through :func:`data.locate`, as a chapter sees it: a clear MissingDataError after the
    bounded number of attempts, naming the file, the URL and the way out."""
    server = flaky(["drop"])
    monkeypatch.setenv("DLBI_DATA_URL", server.url)
    row = {"file": "yes/fake.jpg", "sha256": sha_of(server.body), "bytes": len(server.body),
           "url": data.RAW_PREFIX + "/owner/repo/" + "0" * 40 + "/yes/fake.jpg"}
    with pytest.raises(data.MissingDataError) as info:
        data.locate("brain_mri", row, progress=False)
    msg = str(info.value)
    assert "brain_mri/yes/fake.jpg" in msg and "failed 3 times" in msg
    assert server.url + "/owner/repo/" in msg and "DLBI_DATA_MIRROR" in msg
    assert len(server.requests) == 3 and sleeps == [1.0, 2.0]
    assert all_files(tmp_cache) == []
    # and once the server recovers, the same call succeeds on its first attempt
    server.script[:] = ["ok"]
    path = data.locate("brain_mri", row, progress=False)
    assert path == tmp_cache / "data" / "brain_mri" / "yes" / "fake.jpg"
    assert path.read_bytes() == server.body and len(server.requests) == 4


def test_final_errors_are_not_retried(flaky, tmp_path, sleeps):
    server = flaky(["404", "ok"])  # not found: a second attempt would not help
    with pytest.raises(urllib.error.HTTPError, match="404"):
        data.download(server.url + "/f", tmp_path / "f", sha_of(server.body), progress=False)
    server = flaky(["ok"])  # wrong bytes: the source changed
    with pytest.raises(data.IntegrityError, match="do not match the manifest"):
        data.download(server.url + "/f", tmp_path / "f", "0" * 64, progress=False)
    assert sleeps == [] and all_files(tmp_path) == []


# ----------------------------------------------------------------------------------------
# Decoding (read_image)
# ----------------------------------------------------------------------------------------
def gradient(h=40, w=60) -> np.ndarray:
    return (np.add.outer(np.arange(h) * 2, np.arange(w) * 3) % 256).astype(np.uint8)


def test_png_named_jpg(tmp_path):
    path = tmp_path / "really_a_png.jpg"
    Image.fromarray(gradient()).save(path, format="PNG")
    assert data.image_info(path)["format"] == "PNG"
    arr = data.read_image(path)
    assert arr.shape == (40, 60) and arr.dtype == np.uint8
    assert np.array_equal(arr, gradient())  # lossless, exactly the stored values
    rgb = data.read_image(path, mode="RGB")
    assert rgb.shape == (40, 60, 3)
    assert np.array_equal(rgb[..., 0], rgb[..., 2])


def test_rgba_png_is_composited_on_black(tmp_path):
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[:, :15] = (255, 0, 0, 0)      # fully transparent red -> black
    rgba[:, 15:] = (0, 200, 0, 255)    # opaque green
    path = tmp_path / "rgba.png"
    Image.fromarray(rgba, "RGBA").save(path)
    rgb = data.read_image(path, mode="RGB")
    assert rgb.shape == (20, 30, 3)
    assert (rgb[:, :15] == 0).all()
    assert (rgb[:, 15:] == (0, 200, 0)).all()
    gray = data.read_image(path)
    assert gray.shape == (20, 30)
    assert (gray[:, :15] == 0).all() and (gray[:, 15:] > 0).all()


@pytest.mark.parametrize("transparent", [False, True])
def test_palette_png(tmp_path, transparent):
    im = Image.new("P", (30, 20))
    palette = [0, 0, 0, 255, 255, 255, 255, 0, 0] + [0] * (256 * 3 - 9)
    im.putpalette(palette)
    idx = np.zeros((20, 30), np.uint8)
    idx[:, 10:20] = 1
    idx[:, 20:] = 2
    im.putdata(idx.ravel().tolist())
    path = tmp_path / "palette.png"
    if transparent:
        im.save(path, transparency=1)  # white pixels become transparent -> black
    else:
        im.save(path)
    assert data.image_info(path)["mode"] == "P"
    rgb = data.read_image(path, mode="RGB")
    assert rgb.shape == (20, 30, 3) and rgb.dtype == np.uint8
    assert (rgb[:, :10] == 0).all()
    assert (rgb[:, 20:] == (255, 0, 0)).all()
    assert (rgb[:, 10:20] == (0 if transparent else 255)).all()
    gray = data.read_image(path)
    assert gray.shape == (20, 30)
    assert set(np.unique(gray)) <= {0, 255, int(gray[0, 25])}


def test_16bit_png_is_scaled_to_8bit(tmp_path):
    ramp = np.linspace(0, 65535, 64 * 32).round().astype(np.uint16).reshape(32, 64)
    ramp[0, 0], ramp[0, 1], ramp[0, 2] = 0, 32768, 65535
    path = tmp_path / "ramp16.png"
    Image.fromarray(ramp).save(path)
    assert data.image_info(path)["mode"].startswith("I")
    arr = data.read_image(path)
    assert arr.shape == (32, 64) and arr.dtype == np.uint8
    assert arr.min() == 0 and arr.max() == 255
    assert arr[0, :3].tolist() == [0, 128, 255]
    expected = np.clip(ramp / 65535.0 * 255.0 + 0.5, 0, 255).astype(np.uint8)
    assert np.abs(arr.astype(int) - expected).max() <= 1
    assert (np.diff(arr.ravel().astype(int)[3:]) >= 0).all()  # monotone ramp stays monotone
    assert data.read_image(path, mode="RGB").shape == (32, 64, 3)


def test_16bit_png_with_small_values_keeps_its_scale(tmp_path):
    small = np.full((8, 8), 1000, np.uint16)
    path = tmp_path / "dark16.png"
    Image.fromarray(small).save(path)
    assert data.read_image(path).max() == round(1000 / 65535 * 255)  # not stretched to 255


def test_jpegs(tmp_path):
    g = gradient()
    Image.fromarray(g, "L").save(tmp_path / "gray.jpg", quality=95)
    color = np.stack([g, 255 - g, np.full_like(g, 80)], -1)
    Image.fromarray(color, "RGB").save(tmp_path / "color.jpeg", quality=95)

    gl = data.read_image(tmp_path / "gray.jpg")
    assert gl.shape == (40, 60) and gl.dtype == np.uint8
    assert np.abs(gl.astype(int) - g).mean() < 4
    grgb = data.read_image(tmp_path / "gray.jpg", mode="RGB")
    assert grgb.shape == (40, 60, 3)
    assert np.array_equal(grgb[..., 0], grgb[..., 1])

    crgb = data.read_image(tmp_path / "color.jpeg", mode="RGB")
    assert crgb.shape == (40, 60, 3) and crgb.dtype == np.uint8
    assert np.abs(crgb.astype(int) - color).mean() < 6
    cl = data.read_image(tmp_path / "color.jpeg")
    assert cl.shape == (40, 60)
    assert 0 <= cl.min() and cl.max() <= 255


def test_exif_orientation_is_applied(tmp_path):
    im = Image.fromarray(gradient(40, 60), "L")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when displayed
    path = tmp_path / "rotated.jpg"
    im.save(path, exif=exif)
    assert data.read_image(path).shape == (60, 40)


def test_truncated_jpeg_raises(tmp_path):
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(
        tmp_path / "full.jpg", quality=90)
    raw = (tmp_path / "full.jpg").read_bytes()
    path = tmp_path / "half.jpg"
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(data.ImageDecodeError) as info:
        data.read_image(path)
    assert "half.jpg" in str(info.value)
    assert isinstance(info.value, data.DataError)


def test_truncated_png_raises(tmp_path):
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64), np.uint8)).save(
        tmp_path / "full.png")
    raw = (tmp_path / "full.png").read_bytes()
    path = tmp_path / "cut.png"
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(data.ImageDecodeError, match="cut.png"):
        data.read_image(path)


def test_text_file_named_png_raises(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not an image\n")
    with pytest.raises(data.ImageDecodeError) as info:
        data.read_image(path)
    assert "notes.png" in str(info.value)


def test_missing_file_and_bad_mode(tmp_path):
    with pytest.raises(data.MissingDataError, match="nothing.png"):
        data.read_image(tmp_path / "nothing.png")
    Image.fromarray(gradient()).save(tmp_path / "g.png")
    with pytest.raises(ValueError, match="mode"):
        data.read_image(tmp_path / "g.png", mode="RGBA")


def test_resize(tmp_path):
    path = tmp_path / "g.png"
    Image.fromarray(gradient(40, 60)).save(path)
    assert data.read_image(path, size=32).shape == (32, 32)
    assert data.read_image(path, size=(50, 20)).shape == (20, 50)  # (width, height)
    assert data.read_image(path, mode="RGB", size=(50, 20)).shape == (20, 50, 3)
    for method in ("bilinear", "nearest", "bicubic", "area"):
        assert data.read_image(path, size=16, resample=method).shape == (16, 16)


def test_resize_nearest_keeps_mask_values(tmp_path):
    rng = np.random.default_rng(0)
    mask = rng.choice(np.array([0, 127, 255], np.uint8), size=(37, 53))
    path = tmp_path / "mask.png"
    Image.fromarray(mask).save(path)
    for size in (16, (100, 71), 64):
        out = data.read_image(path, size=size, resample="nearest")
        assert set(np.unique(out)) <= {0, 127, 255}
    # the test means something: bilinear does create new values
    blurred = data.read_image(path, size=(100, 71))
    assert not set(np.unique(blurred)) <= {0, 127, 255}


# ----------------------------------------------------------------------------------------
# Real data with misleading extensions
# ----------------------------------------------------------------------------------------
def test_real_png_files_named_jpg_decode(mirror_env):
    df = data.fetch("brain_mri", progress=False)
    info = pd.DataFrame([data.image_info(p) for p in df["path"]])
    info["file"] = df["file"]
    odd = info[(info["format"] == "PNG") & (info["extension"] == ".jpg")]
    assert set(odd["file"]) == PNG_NAMED_JPG
    for row in odd.itertuples():
        path = df.set_index("file").loc[row.file, "path"]
        gray = data.read_image(path)
        assert gray.shape == (row.height, row.width) and gray.dtype == np.uint8
        assert gray.max() > 0  # a picture, not an all-black transparent canvas
        assert data.read_image(path, mode="RGB").shape == (row.height, row.width, 3)
        assert data.read_image(path, size=64).shape == (64, 64)


# ---- DICOM ---------------------------------------------------------------------------------
def write_dicom(path, pixels, slope=1.0, intercept=0.0, center=None, width=None,
                photometric="MONOCHROME2"):
    """A minimal valid CT-like DICOM slice (uint16 stored values) written with pydicom."""
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT"
    pixels = np.asarray(pixels, np.uint16)
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    if center is not None:
        ds.WindowCenter, ds.WindowWidth = center, width
    ds.PixelData = pixels.tobytes()
    ds.save_as(str(path), enforce_file_format=True)
    return path


def test_dicom_rescale_and_window_are_applied(tmp_path):
    stored = np.array([[0, 500, 1000, 1500], [2000, 2500, 3000, 4000]], np.uint16)
    # HU = 2 * stored - 1000; window 1000 +- 500 (HU 500..1500) -> stored 750..1250
    path = write_dicom(tmp_path / "slice.dcm", stored, slope=2.0, intercept=-1000.0,
                       center=1000, width=1000)
    assert data.is_dicom(path)
    out = data.read_image(path)
    hu = stored * 2.0 - 1000.0
    expect = np.clip((hu - 999.5) / 999 + 0.5, 0, 1) * 255
    assert out.dtype == np.uint8 and out.shape == stored.shape
    assert np.abs(out.astype(float) - expect).max() <= 0.5 + 1e-9
    assert out[0, 0] == 0 and out[1, 3] == 255 and 120 < out[0, 2] < 135  # stored 1000 = 1000 HU


def test_dicom_without_window_uses_the_full_range_and_monochrome1_inverts(tmp_path):
    stored = np.array([[10, 20], [30, 40]], np.uint16)
    out = data.read_image(write_dicom(tmp_path / "a.dcm", stored))
    assert out.min() == 0 and out.max() == 255
    inv = data.read_image(write_dicom(tmp_path / "b.dcm", stored, photometric="MONOCHROME1"))
    assert np.array_equal(inv, 255 - out)


def test_pydicom_ct_small_is_read_not_called_corrupt(tmp_path):
    from pydicom.data import get_testdata_file

    src = get_testdata_file("CT_small.dcm")
    out = data.read_image(src)
    assert out.shape == (128, 128) and out.std() > 10
    # without its .dcm name it is still recognised (the DICM marker)
    import shutil

    renamed = shutil.copy(src, tmp_path / "slice_without_extension")
    assert np.array_equal(data.read_image(renamed), out)
    assert data.read_image(src, mode="RGB").shape == (128, 128, 3)


def test_corrupted_dicom_raises_a_clear_error(tmp_path):
    bad = tmp_path / "broken.dcm"
    bad.write_bytes(b"\0" * 128 + b"DICM" + b"garbage" * 5)
    with pytest.raises(data.ImageDecodeError, match="DICOM"):
        data.read_image(bad)


# ----------------------------------------------------------------------------------------
# utils.datasets.ImageSet.take: a subset that keeps images, labels, groups and table together
# ----------------------------------------------------------------------------------------
def test_imageset_take_keeps_every_part_aligned():
    from utils.datasets import ImageSet

    n = 6
    X = np.arange(n, dtype=np.float32).reshape(n, 1, 1, 1) / 10
    table = pd.DataFrame({"file": [f"f{i}" for i in range(n)], "y": [0, 1, 0, 1, 1, 0]},
                         index=np.arange(10, 10 + n))        # an index that is not 0..n-1
    s = ImageSet(X, table["y"].to_numpy(), np.array(list("aabbcc")), table, ("no", "yes"))
    sub = s.take([4, 1, 3])                                  # in the order given
    assert len(sub) == 3 and sub.classes == ("no", "yes")
    assert sub.X[:, 0, 0, 0].tolist() == pytest.approx([0.4, 0.1, 0.3])
    assert sub.y.tolist() == [1, 1, 1] and sub.groups.tolist() == ["c", "a", "b"]
    assert sub.table["file"].tolist() == ["f4", "f1", "f3"]
    assert sub.table.index.tolist() == [0, 1, 2]            # renumbered, aligned with X
    mask = s.take(s.groups == "b")                           # a boolean mask
    assert mask.table["file"].tolist() == ["f2", "f3"] and mask.y.tolist() == [0, 1]
    with pytest.raises(ValueError):
        s.take(np.ones(n - 1, bool))
    bare = ImageSet(X, s.y, s.groups, None).take([0])        # a set without a table
    assert bare.table is None and bare.groups.tolist() == ["a"]
    assert len(s) == n and s.table.index[0] == 10            # the original is unchanged
