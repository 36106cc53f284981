"""The book's data layer: pinned manifests, sha256-verified files, robust image decoding.

Every file the book uses is listed in a committed manifest (``utils/manifests/<dataset>.csv``)
with its sha256, size, licence, provenance and a pinned download URL (a raw file of a public
GitHub repository at a fixed commit).  :func:`fetch` finds each file in this order:

1. a local mirror folder named by ``DLBI_DATA_MIRROR`` (``<mirror>/<dataset>/<file>``);
2. the user cache (``DLBI_CACHE``, default ``~/.cache/dlbi/data``);
3. a download from the pinned URL (to a temporary file, renamed only once verified; a dropped
   connection or a server error is retried a few times, waiting longer each time).

A file is used only after its sha256 matched the manifest.  Problems raise a :class:`DataError`
subclass whose message names the file and says how to fix it; nothing is skipped silently.
Arrays derived from verified files (decoded, resized, sliced) can be kept in the same cache with
:func:`array_cache`.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import ssl
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

# Where the data comes from is configuration: the data set names, the environment variables and
# the mirror/cache folders live in utils.config and are re-exported here (the same objects), so
# that data.cache_dir, data.MIRROR_ENV, data.DataError, ... keep working.
from .config import (  # noqa: F401 (re-exported)
    CACHE_ENV, DATASETS, MIRROR_ENV, OFFLINE_ENV, URL_ENV, DataError, cache_dir, describe_source,
    mirror_dir)

RAW_PREFIX = "https://raw.githubusercontent.com"
RAW_URL = RAW_PREFIX + "/{repo}/{commit}/{path}"
MANIFEST_DIR = Path(__file__).resolve().parent / "manifests"
CHUNK = 1 << 16
DOWNLOAD_ATTEMPTS = 3     # attempts in all, per file
DOWNLOAD_BACKOFF = 1.0    # seconds before the second attempt; doubled before each further one


class IntegrityError(DataError):
    """A file's bytes do not match the manifest's sha256."""


class MissingDataError(DataError):
    """A file is neither in the mirror nor the cache and cannot be downloaded."""


class ImageDecodeError(DataError):
    """A file cannot be decoded as an image (truncated, corrupted or not an image)."""


# --------------------------------------------------------------------------------------------
# Manifests and locations
# --------------------------------------------------------------------------------------------
def _check_dataset(dataset: str) -> None:
    if dataset not in DATASETS:
        raise DataError(f"unknown data set {dataset!r}; the book's data sets are {DATASETS}")


@lru_cache(maxsize=None)
def _manifest_cached(dataset: str):
    import pandas as pd

    df = pd.read_csv(MANIFEST_DIR / f"{dataset}.csv", dtype=str, keep_default_na=False)
    df["bytes"] = df["bytes"].astype(int)
    return df


def manifest(dataset: str):
    """The committed manifest of ``dataset`` as a DataFrame (one row per file)."""
    _check_dataset(dataset)
    return _manifest_cached(dataset).copy()


def _tqdm():
    """tqdm's notebook bar where ipywidgets exist (Colab), its text bar elsewhere."""
    import importlib.util

    if importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.auto import tqdm
    else:
        from tqdm import tqdm
    return tqdm


def _download_url(url: str) -> str:
    base = os.environ.get(URL_ENV, "").strip().rstrip("/")
    if base and url.startswith(RAW_PREFIX):
        return base + url[len(RAW_PREFIX):]
    return url


# --------------------------------------------------------------------------------------------
# Verification and download
# --------------------------------------------------------------------------------------------
def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, sha256: str, label: str = "", where: str = "") -> Path:
    """Raise :class:`IntegrityError` unless ``path`` has the expected sha256."""
    actual = sha256_file(path)
    if actual != sha256:
        raise IntegrityError(
            f"{label or path.name}: sha256 mismatch for {path}{where}.\n"
            f"  expected {sha256}\n  actual   {actual}\n"
            "The copy is corrupted or was modified. Restore the original file (or delete it and "
            f"let the loader download a verified copy: unset {MIRROR_ENV} or remove the file)."
        )
    return path


class _Truncated(IntegrityError):
    """A transfer that ended before all announced bytes arrived (retried, unlike wrong bytes)."""


class DownloadFailed(DataError):
    """Every attempt of a download failed with a network or server error (``attempts`` tells how
    many were made, ``__cause__`` is the last error)."""

    def __init__(self, message: str, attempts: int):
        super().__init__(message)
        self.attempts = attempts


# Status codes worth a second try: the server is overloaded or briefly broken, not the request.
RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


def _transient(err: BaseException) -> bool:
    """True for errors that another attempt may not repeat: a refused, reset or dropped
    connection, a timeout, a transfer cut off mid-way, an HTTP 5xx/429 answer.  Wrong bytes,
    404, a certificate that does not verify or a full disk are final."""
    if isinstance(err, urllib.error.HTTPError):
        return err.code in RETRY_STATUS
    if isinstance(err, urllib.error.URLError):  # could not connect: refused, DNS, timeout
        return not isinstance(err.reason, ssl.SSLCertVerificationError)
    if isinstance(err, ssl.SSLError):  # e.g. the connection closed in the middle of TLS
        return not isinstance(err, ssl.SSLCertVerificationError)
    return isinstance(err, (_Truncated, ConnectionError, TimeoutError,
                            http.client.HTTPException))


def _sleep(seconds: float) -> None:
    """``time.sleep`` (a seam for the tests, which record the delays instead of waiting)."""
    import time

    time.sleep(seconds)


def download(url: str, dest: Path, sha256: str, size: int | None = None,
             progress: bool = True, timeout: float = 60.0, attempts: int | None = None,
             backoff: float | None = None) -> Path:
    """Download ``url`` to ``dest`` atomically: temp file, verify sha256, then rename.

    A network or server error (refused or dropped connection, timeout, a transfer cut off
    mid-way, HTTP 5xx/429) is retried up to ``attempts`` times in all (default
    :data:`DOWNLOAD_ATTEMPTS`, 3), waiting ``backoff`` seconds before the second attempt and
    twice as long before each further one (default :data:`DOWNLOAD_BACKOFF`: 1 s, then 2 s).
    When every attempt failed it raises :class:`DownloadFailed` (for a cut-off transfer:
    :class:`IntegrityError`); wrong bytes and errors such as 404 are not retried.

    On any failure the temporary file is removed and nothing is left at ``dest``.
    """
    attempts = DOWNLOAD_ATTEMPTS if attempts is None else int(attempts)
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, not {attempts}")
    backoff = DOWNLOAD_BACKOFF if backoff is None else float(backoff)
    for attempt in range(1, attempts + 1):
        try:
            return _download_once(url, dest, sha256, size, progress, timeout)
        except Exception as err:
            if not _transient(err):
                raise
            if attempt == attempts:
                tried = f"{attempts} attempt{'s' if attempts > 1 else ''}"
                if isinstance(err, _Truncated):
                    raise IntegrityError(f"{err} (gave up after {tried})") from err
                raise DownloadFailed(f"{url}: {err} (gave up after {tried})", attempts) from err
            delay = backoff * 2 ** (attempt - 1)
            print(f"{dest.name}: download attempt {attempt} of {attempts} failed ({err}); "
                  f"trying again in {delay:g} s", file=sys.stderr, flush=True)
            _sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def _download_once(url: str, dest: Path, sha256: str, size: int | None, progress: bool,
                   timeout: float) -> Path:
    """One attempt of :func:`download` (no retry)."""
    tqdm = _tqdm()
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    received = 0
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            total = int(resp.headers.get("Content-Length") or size or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, leave=False,
                      disable=not progress, file=sys.stdout) as bar:
                while True:
                    block = resp.read(CHUNK)
                    if not block:
                        break
                    out.write(block)
                    digest.update(block)
                    received += len(block)
                    bar.update(len(block))
        if size is not None and received != size:
            error = _Truncated if received < size else IntegrityError
            raise error(
                f"{dest.name}: download from {url} was interrupted or truncated: "
                f"received {received} bytes, expected {size}. Nothing was saved; run again."
            )
        actual = digest.hexdigest()
        if actual != sha256:
            raise IntegrityError(
                f"{dest.name}: downloaded bytes from {url} do not match the manifest.\n"
                f"  expected {sha256}\n  actual   {actual}\n"
                "Nothing was saved. The source may have changed; report it, or use a mirror "
                f"({MIRROR_ENV})."
            )
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest


def locate(dataset: str, row, progress: bool = True) -> Path:
    """Path of one verified file (``row`` is a manifest row): mirror, then cache, then download."""
    file, sha = row["file"], row["sha256"]
    label = f"{dataset}/{file}"
    mirror = mirror_dir()
    if mirror is not None:
        candidate = mirror / dataset / file
        if candidate.is_file():
            return verify(candidate, sha, label, f" (mirror {MIRROR_ENV}={mirror})")
    cached = cache_dir() / "data" / dataset / file
    if cached.is_file():
        try:
            return verify(cached, sha, label)
        except IntegrityError:
            print(f"{label}: cached copy is corrupted; downloading it again", file=sys.stderr)
            cached.unlink()
    where = f"the mirror {mirror} and " if mirror else ""
    if os.environ.get(OFFLINE_ENV, "") not in ("", "0") or not row.get("url"):
        raise MissingDataError(
            f"{label} is missing: not in {where}the cache {cached.parent}, and downloading is "
            f"off ({OFFLINE_ENV} set or no URL). Point {MIRROR_ENV} at a folder holding "
            f"{dataset}/{file} (e.g. export {MIRROR_ENV}=../shared/data)."
        )
    url = _download_url(row["url"])
    try:
        return download(url, cached, sha, int(row["bytes"]), progress=progress)
    except (DownloadFailed, urllib.error.URLError, OSError, TimeoutError,
            http.client.HTTPException) as err:
        # DownloadFailed: a network error on every attempt; the others were not worth a retry
        # (404, a full disk, ...).  Wrong bytes (IntegrityError) pass through unchanged.
        cause, tries = err, ""
        if isinstance(err, DownloadFailed):
            cause, tries = err.__cause__, f" {err.attempts} times"
        raise MissingDataError(
            f"{label} is missing: not in {where}the cache {cached.parent}, and the download from "
            f"{url} failed{tries} ({cause}). Connect to the internet, or point {MIRROR_ENV} at a "
            f"folder holding {dataset}/{file} (e.g. export {MIRROR_ENV}=../shared/data)."
        ) from err


def fetch(dataset: str, files=None, progress: bool = True):
    """Verified local paths for a data set (or the listed ``files`` of it).

    Returns the manifest rows as a DataFrame with an added ``path`` column.
    """
    tqdm = _tqdm()
    df = manifest(dataset)
    if files is not None:
        wanted = list(files)
        unknown = sorted(set(wanted) - set(df["file"]))
        if unknown:
            raise DataError(f"{dataset}: not in the manifest: {unknown[:5]}")
        df = df.set_index("file").loc[wanted].reset_index()
    rows = df.to_dict("records")
    show = progress and len(rows) > 1 and mirror_dir() is None
    paths = [locate(dataset, r, progress=progress)
             for r in tqdm(rows, desc=f"{dataset}", unit="file", disable=not show, file=sys.stdout)]
    df["path"] = [str(p) for p in paths]
    return df


def array_cache(name: str, key: str, build):
    """Arrays derived from the data, cached as ``<cache>/arrays/<name>-<hash of key>.npz``.

    Decoding the 205 full-size COVID X-rays and masks takes ~25 s on two cores; the cache makes
    a second run (or the next chapter) instant.  ``build()`` returns a dict of arrays; ``key``
    must change whenever the arrays would (file hashes, size, decoding rule).  A corrupted
    cache file is rebuilt; a new one is written to a temporary name and renamed when complete.
    """
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    path = cache_dir() / "arrays" / f"{name}-{digest}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except Exception:  # a corrupted cache file is rebuilt
            path.unlink(missing_ok=True)
    arrays = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)
    return arrays


# --------------------------------------------------------------------------------------------
# Image decoding
# --------------------------------------------------------------------------------------------
def _to_mode(im, mode: str):
    from PIL import Image

    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        if im.mode.startswith("I;16"):
            top = 65535.0  # 16-bit: map the full range linearly onto 0..255
        else:  # 32-bit integer or float images: 8-bit values stay, larger ranges are scaled
            top = max(float(arr.max(initial=0)), 255.0)
        im = Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        im = Image.alpha_composite(background, rgba).convert("RGB")
    if im.mode not in ("L", "RGB"):
        im = im.convert("RGB")
    return im.convert(mode) if im.mode != mode else im


def read_image(path, mode: str = "L", size: int | tuple[int, int] | None = None,
               resample: str = "bilinear") -> np.ndarray:
    """Decode an image file to a uint8 array (H, W) for ``mode="L"`` or (H, W, 3) for ``"RGB"``.

    The format is read from the file's content, not its name (PNG saved as ``.jpg`` is fine);
    palette, RGBA (composited on black), 16-bit and grayscale images are converted; EXIF
    orientation is applied.  DICOM files (recognised by their ``DICM`` marker or a ``.dcm``
    name) are read by :func:`read_dicom`, with their rescale and window applied.  ``size`` resizes to ``(size, size)`` or ``(width, height)``;
    use ``resample="nearest"`` for masks.  A truncated or undecodable file raises
    :class:`ImageDecodeError` naming it.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if mode not in ("L", "RGB"):
        raise ValueError(f"mode must be 'L' or 'RGB', not {mode!r}")
    path = Path(path)
    if not path.is_file():
        raise MissingDataError(f"{path}: no such file")
    if is_dicom(path):
        im = Image.fromarray(read_dicom(path))
        im = im.convert(mode) if im.mode != mode else im
    else:
        try:
            with Image.open(path) as im:
                im.load()
                im = ImageOps.exif_transpose(im)
                im = _to_mode(im, mode)
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
            raise ImageDecodeError(
                f"{path}: cannot decode this image ({err}). The file is truncated, corrupted or "
                "not an image (PNG, JPEG, TIFF, BMP, ... or DICOM). If it is one of the book's "
                "data files, delete it so that the loader fetches a verified copy."
            ) from err
    if size is not None:
        wh = (size, size) if isinstance(size, int) else tuple(size)
        method = {"bilinear": Image.BILINEAR, "nearest": Image.NEAREST,
                  "bicubic": Image.BICUBIC, "area": Image.BOX}[resample]
        im = im.resize(wh, method)
    return np.asarray(im, dtype=np.uint8)


def is_dicom(path) -> bool:
    """True for a DICOM file: the ``DICM`` marker after the 128-byte preamble, or a ``.dcm``
    name (files without the preamble exist)."""
    path = Path(path)
    if path.suffix.lower() in (".dcm", ".dicom"):
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def read_dicom(path) -> np.ndarray:
    """One DICOM slice as uint8 (H, W), the way a viewer shows it (needs ``pydicom``).

    The stored values go through the modality transform (``RescaleSlope`` x value +
    ``RescaleIntercept``: Hounsfield units for CT), then the VOI window of the file
    (``WindowCenter``/``WindowWidth``, the first when there are several; the linear formula of
    DICOM PS3.3 C.11.2.1.2) onto 0..255; without a window the full range of the values is used.
    ``MONOCHROME1`` (white is low) is inverted.  A multi-frame file gives its middle frame; a
    colour one its luminance.  Raises :class:`ImageDecodeError` when pydicom cannot read it.
    """
    path = Path(path)
    try:
        import pydicom
        try:
            from pydicom.pixels import apply_modality_lut  # pydicom 3
        except ImportError:  # pragma: no cover - pydicom 2.x
            from pydicom.pixel_data_handlers.util import apply_modality_lut
    except ImportError as err:  # pragma: no cover - pydicom is in requirements.txt
        raise ImageDecodeError(f"{path}: a DICOM file, but pydicom is not installed "
                               "(pip install pydicom)") from err
    try:
        ds = pydicom.dcmread(path, force=True)
        raw = ds.pixel_array
    except Exception as err:
        raise ImageDecodeError(f"{path}: cannot read this DICOM file ({type(err).__name__}: "
                               f"{err}). It is truncated, corrupted, or its pixel data uses a "
                               "compression that needs an extra package (see pydicom's docs)."
                               ) from err
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    if frames > 1:
        raw = raw[frames // 2]
    if raw.ndim == 3:  # colour: ITU-R 601 luminance
        raw = raw[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    values = np.asarray(apply_modality_lut(raw, ds), dtype=np.float64)
    center, width = ds.get("WindowCenter"), ds.get("WindowWidth")
    if center is not None and width is not None:
        c = float(center[0] if isinstance(center, pydicom.multival.MultiValue) else center)
        w = float(width[0] if isinstance(width, pydicom.multival.MultiValue) else width)
        w = max(w, 1.0)
        scaled = ((values - (c - 0.5)) / (w - 1) + 0.5)  # PS3.3 C.11.2.1.2.1, onto 0..1
    else:
        lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
        scaled = (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)
    out = np.clip(scaled, 0.0, 1.0) * 255.0
    if str(ds.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        out = 255.0 - out
    return (out + 0.5).astype(np.uint8)


def image_info(path) -> dict:
    """Real format, mode and size of an image file (the name's extension may lie)."""
    from PIL import Image

    with Image.open(path) as im:
        return {"format": im.format, "mode": im.mode, "width": im.width, "height": im.height,
                "extension": Path(path).suffix.lower()}


# --------------------------------------------------------------------------------------------
# Volumes: NIfTI files and DICOM series
# --------------------------------------------------------------------------------------------
class DicomSeriesError(DataError):
    """A DICOM series that does not form one regular volume (a missing, duplicated or
    misaligned slice, slices of another series or of another size)."""


@dataclass
class Volume:
    """A 3-D image: ``array`` (float32), the ``spacing`` of its three axes in mm, the 4x4
    ``affine`` from voxel indices to scanner millimetres, the ``stored_dtype`` of the file and
    ``axes`` (what each array axis is: "xyz" for NIfTI, "slice,row,col" for DICOM)."""

    array: np.ndarray
    spacing: tuple
    affine: np.ndarray
    stored_dtype: str
    axes: str

    @property
    def shape(self) -> tuple:
        return self.array.shape

    def orientation(self) -> str:
        """The three letters of the anatomical directions the array axes point to (RAS+
        convention of nibabel's ``aff2axcodes``: "RAS" means +x right, +y anterior, +z superior;
        DICOM millimetres are LPS, so they are converted first)."""
        import nibabel as nib

        affine = self.affine
        if self.axes != "xyz":  # DICOM patient coordinates are LPS: flip x and y to RAS
            affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine
        return "".join(nib.aff2axcodes(affine))


def read_nifti(path) -> Volume:
    """One NIfTI volume (``.nii`` or ``.nii.gz``) as a :class:`Volume`, intensities as float32
    (the header's scaling applied), axes as stored (no reorientation).  A truncated or
    corrupted file raises :class:`ImageDecodeError` naming it."""
    import nibabel as nib

    path = Path(path)
    if not path.is_file():
        raise MissingDataError(f"{path}: no such file")
    try:
        img = nib.load(str(path))
        arr = np.asarray(img.dataobj, dtype=np.float32)
    except Exception as err:  # gzip, header and size errors all mean "cannot read this file"
        raise ImageDecodeError(f"{path}: cannot read this NIfTI volume ({err}). The file is "
                               "truncated or corrupted; delete it so that the loader fetches a "
                               "verified copy.") from err
    if arr.ndim != 3:
        raise ImageDecodeError(f"{path}: expected a 3-D volume, got shape {arr.shape}")
    spacing = tuple(float(z) for z in img.header.get_zooms()[:3])
    return Volume(arr, spacing, np.asarray(img.affine, dtype=float),
                  str(img.header.get_data_dtype()), "xyz")


def read_dicom_series(paths, rtol: float = 0.01) -> Volume:
    """One DICOM series (a list of files, in any order) as a :class:`Volume`.

    The slices are sorted by their position along the slice normal (the cross product of the
    two ImageOrientationPatient directions, dotted with ImagePositionPatient), never by file
    name or InstanceNumber.  Each slice's RescaleSlope/RescaleIntercept are applied.  The
    spacing is (slice step, row spacing, column spacing) in mm: the step is measured from the
    positions (SliceThickness is the thickness of the excited slab, not the distance between
    slices).  Raises :class:`DicomSeriesError` when the files do not form one regular volume:
    fewer than two slices, several series, different sizes or orientations, two slices at one
    position, or steps that differ by more than ``rtol`` (a missing slice doubles one step).
    """
    import pydicom

    paths = [Path(p) for p in paths]
    if len(paths) < 2:
        raise DicomSeriesError(f"a series needs at least two slices; got {len(paths)} file(s)")
    slices = []
    for p in paths:
        try:
            ds = pydicom.dcmread(str(p))
            pixels = ds.pixel_array
        except Exception as err:
            raise ImageDecodeError(f"{p}: cannot read this DICOM file ({err})") from err
        slices.append((p, ds, pixels))
    first = slices[0][1]
    series = {str(ds.get("SeriesInstanceUID", "")) for _, ds, _ in slices}
    if len(series) > 1:
        raise DicomSeriesError(f"the files belong to {len(series)} different series")
    orient = np.array([float(v) for v in first.ImageOrientationPatient])
    shape = slices[0][2].shape
    for p, ds, px in slices:
        if px.shape != shape:
            raise DicomSeriesError(f"{p.name}: a slice of {px.shape}, the others {shape}")
        if not np.allclose([float(v) for v in ds.ImageOrientationPatient], orient, atol=1e-4):
            raise DicomSeriesError(f"{p.name}: its orientation differs from the series'")
    row_dir, col_dir = orient[:3], orient[3:]
    normal = np.cross(row_dir, col_dir)
    where = np.array([float(np.dot(normal, [float(v) for v in ds.ImagePositionPatient]))
                      for _, ds, _ in slices])
    order = np.argsort(where)
    where = where[order]
    steps = np.diff(where)
    if np.any(steps < 1e-6 * max(1.0, abs(where).max())):
        i = int(np.flatnonzero(steps < 1e-6 * max(1.0, abs(where).max()))[0])
        raise DicomSeriesError(f"two slices at one position: {slices[order[i]][0].name} and "
                               f"{slices[order[i + 1]][0].name}")
    step = float(np.median(steps))
    bad = np.flatnonzero(np.abs(steps - step) > rtol * step)
    if bad.size:
        i = int(bad[0])
        gap = f"{steps[i]:.3g} mm between {slices[order[i]][0].name} and " \
              f"{slices[order[i + 1]][0].name}, {step:.3g} mm elsewhere"
        raise DicomSeriesError(
            f"the slice positions are not evenly spaced ({gap}): a slice is missing or the "
            "series is inconsistent. Fetch the complete series; never interpolate over a gap "
            "silently.")
    stack = []
    for k in order:
        _, ds, px = slices[k]
        slope = float(ds.get("RescaleSlope", 1) or 1)
        intercept = float(ds.get("RescaleIntercept", 0) or 0)
        stack.append(px.astype(np.float32) * slope + intercept)
    row_mm, col_mm = (float(v) for v in first.PixelSpacing)  # between rows, between columns
    origin = np.array([float(v) for v in slices[order[0]][1].ImagePositionPatient])
    affine = np.eye(4)
    # index (k, r, c) -> origin + k*step*normal + r*row_mm*col_dir + c*col_mm*row_dir
    affine[:3, 0], affine[:3, 1], affine[:3, 2] = normal * step, col_dir * row_mm, row_dir * col_mm
    affine[:3, 3] = origin
    return Volume(np.stack(stack), (step, row_mm, col_mm), affine, str(slices[0][2].dtype),
                  "slice,row,col")
