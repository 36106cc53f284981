"""The external brain MRI test set: manifests of ``brain_mri_external`` and ``ixi_t1``, their
sha256-verified loading (mirror, download, corrupted and missing files) and
``utils.datasets.load_brain_mri_external`` on the real mirror.

Never touches the internet: downloads go to a local stand-in for raw.githubusercontent.com
(tests/conftest.py), everything else is offline.
"""
from __future__ import annotations

import re
import shutil
import sys
import urllib.parse
from pathlib import Path

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("nibabel")

from utils import data, datasets  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SETS = ("brain_mri_external", "ixi_t1")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
TYPES = dict.fromkeys(datasets.EXTERNAL_TUMOUR_TYPES, 100)
N_IXI = 80
KAGGLE_FILE = "yes/Tr-gl_0012.jpg"
IXI_FILE = "t1/IXI012-HH-1211_T1.nii.gz"


@pytest.fixture(scope="session")
def ext_mirror(mirror) -> Path:
    """The real mirror, when it holds the two external sets (skips otherwise)."""
    missing = [name for name in SETS if not (mirror / name / "manifest.csv").is_file()]
    if missing:
        pytest.skip(f"the data mirror {mirror} lacks {missing}")
    return mirror


def flip_byte(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))


def linked_mirror(real: Path, root: Path, corrupt: tuple[str, str] | None = None) -> Path:
    """A mirror at ``root`` whose files link to the real ones; the file ``corrupt``
    (``(dataset, file)``) is a real copy with one byte flipped."""
    for dataset in SETS:
        for row in data.manifest(dataset).itertuples():
            dest = root / dataset / row.file
            dest.parent.mkdir(parents=True, exist_ok=True)
            if (dataset, row.file) == corrupt:
                shutil.copyfile(real / dataset / row.file, dest)
                flip_byte(dest)
            else:
                dest.symlink_to(real / dataset / row.file)
    return root


# ----------------------------------------------------------------------------------------
# Manifests
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("dataset", SETS)
def test_manifest_rows_have_hash_licence_and_a_pinned_url(dataset):
    m = data.manifest(dataset)
    assert dataset in data.DATASETS
    assert m["sha256"].map(lambda s: bool(HEX64.match(s))).all()
    assert (m["bytes"] > 0).all() and not m["file"].duplicated().any()
    assert m["licence"].str.len().gt(0).all()
    assert m["commit"].map(lambda c: bool(re.fullmatch(r"[0-9a-f]{40}", c))).all()
    expected = [data.RAW_URL.format(repo=r.fetch_repo, commit=r.commit,
                                    path=urllib.parse.quote(r.source_path))
                for r in m.itertuples()]
    assert list(m["url"]) == expected  # raw file of the fetch repository at the pinned commit


def test_brain_mri_external_manifest():
    m = data.manifest("brain_mri_external")
    assert len(m) == 307
    assert m.groupby("source_class").size().to_dict() == {**TYPES, "notumor": 7}
    assert (m["file"].str.split("/").str[0] == m["label"]).all()
    assert ((m["label"] == "no") == (m["source_class"] == "notumor")).all()
    assert m["licence"].str.contains("CC0-1.0").all()  # as the README states: Kaggle's listing
    assert m["licence"].str.startswith("not stated in the GitHub copy").all()
    assert set(datasets.EXTERNAL_NO_VIEWS) == set(m.loc[m["label"] == "no", "file"])


def test_ixi_manifest():
    m = data.manifest("ixi_t1")
    assert len(m) == N_IXI and m["subject"].nunique() == N_IXI
    assert all(f == f"t1/{s}_T1.nii.gz" for f, s in zip(m["file"], m["subject"]))
    assert set(m["site"]) == {"HH"} and set(m["label"]) == {"no"}
    assert m["licence"].str.startswith("CC-BY-SA-3.0").all()
    ages = m["age"].replace("", np.nan).astype(float)
    assert ages.notna().sum() == 78 and ages.between(18, 95).all() == (ages.notna().all())
    assert set(m["sex"]) <= {"F", "M", ""} and ((m["sex"] == "") == ages.isna()).all()


@pytest.mark.parametrize("dataset", SETS)
def test_manifest_matches_the_mirror_manifest(ext_mirror, dataset):
    theirs = pd.read_csv(ext_mirror / dataset / "manifest.csv", dtype=str, keep_default_na=False)
    ours = data.manifest(dataset)
    assert list(ours["file"]) == list(theirs["file"])
    assert (ours["sha256"] == theirs["sha256"]).all()
    assert (ours["bytes"] == theirs["bytes"].astype(int)).all()
    assert (ours["licence"] == theirs["license"]).all()
    for column in ("source_repo", "commit", "source_path", "fetch_repo", "label"):
        assert (ours[column] == theirs[column]).all(), column
    extra = {"brain_mri_external": ["source_class"], "ixi_t1": ["subject", "site"]}[dataset]
    for column in extra:
        assert (ours[column] == theirs[column]).all(), column
    sums = dict(line.split()[::-1] for line in
                (ext_mirror / dataset / "SHA256SUMS").read_text().splitlines() if line.strip())
    assert {f.lstrip("*"): s for f, s in sums.items()} == dict(zip(ours["file"], ours["sha256"]))


def test_make_manifests_derives_the_committed_files(ext_mirror, tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import make_manifests
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    monkeypatch.setattr(make_manifests, "MANIFEST_DIR", tmp_path)
    make_manifests.main(ext_mirror)
    for path in sorted(data.MANIFEST_DIR.glob("*.csv")):
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name


# ----------------------------------------------------------------------------------------
# Verified files: download, corruption, missing data
# ----------------------------------------------------------------------------------------
def test_both_sets_download_from_their_pinned_urls(ext_mirror, raw_server):
    server = raw_server({"brain_mri_external": [KAGGLE_FILE], "ixi_t1": [IXI_FILE]})
    cache = data.cache_dir() / "data"
    for dataset, file in (("brain_mri_external", KAGGLE_FILE), ("ixi_t1", IXI_FILE)):
        df = data.fetch(dataset, files=[file], progress=False)
        path = Path(df.loc[0, "path"])
        assert path == cache / dataset / file and server.hits(file) == 1
        assert data.sha256_file(path) == df.loc[0, "sha256"]


@pytest.mark.parametrize("dataset,file", [("brain_mri_external", KAGGLE_FILE),
                                          ("ixi_t1", IXI_FILE)])
def test_a_corrupted_file_raises_integrity_error(ext_mirror, tmp_path, monkeypatch, dataset,
                                                 file):
    root = linked_mirror(ext_mirror, tmp_path / "mirror", corrupt=(dataset, file))
    monkeypatch.setenv("DLBI_DATA_MIRROR", str(root))
    monkeypatch.setenv("DLBI_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("DLBI_OFFLINE", "1")
    with pytest.raises(data.IntegrityError) as info:
        datasets.load_brain_mri_external(size=16)
    msg = str(info.value)
    expected = data.manifest(dataset).set_index("file").loc[file, "sha256"]
    assert f"{dataset}/{file}" in msg and "sha256 mismatch" in msg
    assert expected in msg and data.sha256_file(root / dataset / file) in msg
    assert "Restore the original" in msg and "DLBI_DATA_MIRROR" in msg  # how to fix it
    assert not (tmp_path / "cache" / "arrays").exists()  # nothing derived from bad bytes


def test_offline_without_mirror_raises_missing_data_error(tmp_cache, monkeypatch):
    monkeypatch.setenv("DLBI_OFFLINE", "1")
    with pytest.raises(data.MissingDataError) as info:
        datasets.load_brain_mri_external(size=16)
    msg = str(info.value)
    assert "brain_mri_external/" in msg and "is missing" in msg
    assert "DLBI_DATA_MIRROR" in msg and str(tmp_cache) in msg
    with pytest.raises(data.MissingDataError, match=r"ixi_t1/t1/IXI\d+-HH-\d+_T1\.nii\.gz"):
        datasets.ixi_slices()


# ----------------------------------------------------------------------------------------
# The loader on the real mirror
# ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ext_env(ext_mirror, tmp_path_factory):
    """The real mirror, offline, with one cache for the whole module (the IXI slices are cut
    once)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DLBI_DATA_MIRROR", str(ext_mirror))
        mp.setenv("DLBI_CACHE", str(tmp_path_factory.mktemp("ext-cache")))
        mp.setenv("DLBI_OFFLINE", "1")
        mp.delenv("DLBI_DATA_URL", raising=False)
        yield ext_mirror


@pytest.fixture(scope="module")
def external(ext_env):
    return datasets.load_brain_mri_external(size=32)


def test_counts_labels_and_sources(external):
    t = external.table
    assert len(external) == 300 + 4 * N_IXI and external.classes == ("no", "yes")
    assert t.groupby(["source", "tumour_type"]).size().to_dict() == {
        ("ixi", "none"): 4 * N_IXI, **{("kaggle_external", k): n for k, n in TYPES.items()}}
    assert list(external.y) == list((t["tumour_type"] != "none").astype(int))
    assert (t.loc[t["source"] == "ixi", "y"] == 0).all()
    assert (t["label"] == np.where(external.y == 1, "yes", "no")).all()
    assert not t["image_id"].duplicated().any()
    assert set(t["source"]) == set(datasets.EXTERNAL_SOURCES)
    assert (t["issue"] != "").sum() == 1  # Tr-me_1076, the source of the augmented copies


def test_groups_follow_subjects_and_never_mix_sources(external):
    t = external.table.assign(group=external.groups)
    assert t.groupby("group")["source"].nunique().max() == 1
    ixi = t[t["source"] == "ixi"]
    assert (ixi["group"] == "ixi:" + ixi["subject"]).all()
    assert ixi.groupby("subject")["group"].nunique().max() == 1
    assert ixi["group"].nunique() == N_IXI and (ixi.groupby("group").size() == 4).all()
    kaggle = t[t["source"] == "kaggle_external"]
    assert kaggle["group"].str.startswith("kaggle_external:").all()
    assert (kaggle["subject"] == "").all()  # the source has no patient ids
    sizes = kaggle.groupby("group").size()
    assert len(sizes) == 296 and sizes.max() == 2  # 4 pairs of neighbouring slices
    assert kaggle.groupby("group")["tumour_type"].nunique().max() == 1


def test_images_shapes_dtype_and_range(external):
    X = external.X
    assert X.shape == (620, 32, 32, 1) and X.dtype == np.float32
    assert X.min() >= 0.0 and X.max() <= 1.0
    assert (X.reshape(len(X), -1).max(axis=1) > 0.5).all()  # no blank image
    t = external.table
    kaggle, ixi = t[t["source"] == "kaggle_external"], t[t["source"] == "ixi"]
    assert (kaggle["width"] >= 200).all()
    assert ((kaggle["width"] == 512) & (kaggle["height"] == 512)).sum() == 287
    assert (ixi["width"] == 120).all() and (ixi["height"] == 120).all()
    assert (ixi["pixel_mm"] == 2.0).all() and kaggle["pixel_mm"].isna().all()
    assert sorted(set(ixi["level_mm"])) == list(datasets.IXI_LEVELS_MM)
    assert set(ixi["view"]) == {"axial"}


def test_ixi_slices_are_8bit_scaled_and_cached(ext_env, monkeypatch):
    X, table = datasets.ixi_slices()  # from the cache the module's first load wrote
    assert X.shape == (4 * N_IXI, 120, 120) and X.dtype == np.uint8
    assert (X.reshape(len(X), -1).max(axis=1) == 255).all()  # the 99.5th percentile -> 255
    assert (X[:, :, :15] == 0).all() and (X[:, :, -15:] == 0).all()  # 90 -> 120 zero padding
    assert (table["vertex_z"] - table["z"] == table["level_mm"] / 2).all()  # 2 mm planes
    files = list((data.cache_dir() / "arrays").glob("ixi_t1-slices-*.npz"))
    assert len(files) == 1

    def no_slicing(*args, **kwargs):
        raise AssertionError("the cached slices were cut again")

    monkeypatch.setattr(datasets, "ixi_axial_slices", no_slicing)
    X2, table2 = datasets.ixi_slices()
    assert np.array_equal(X, X2) and table.equals(table2)
    with pytest.raises(AssertionError, match="cut again"):  # other levels: another cache key
        datasets.ixi_slices(levels_mm=(60.0,))


def synthetic_volume(path: Path, stored: str = "PSR") -> Path:
    """A 2 mm 'head' (an ellipsoid of random intensities) with a bright block at the front and
    on the patient's right, 60 mm below the vertex, saved with the axes in ``stored`` order
    (the IXI files: P, S, R)."""
    import nibabel as nib
    from nibabel import orientations as o

    x, y, z = np.meshgrid(np.arange(90), np.arange(120), np.arange(120), indexing="ij")
    head = ((x - 45) / 35) ** 2 + ((y - 60) / 50) ** 2 + ((z - 60) / 50) ** 2 <= 1  # RAS+
    vol = np.where(head, np.random.default_rng(0).uniform(50, 150, head.shape), 0.0)
    vol[65:75, 95:105, 79:82] = 1000.0  # x: right, y: anterior; the vertex is plane 110
    ras = nib.Nifti1Image(vol.astype(np.float32), np.diag([2.0, 2.0, 2.0, 1.0]))
    img = ras.as_reoriented(o.ornt_transform(o.axcodes2ornt("RAS"), o.axcodes2ornt(stored)))
    assert nib.aff2axcodes(img.affine) == tuple(stored)
    nib.save(img, str(path))
    return path


@pytest.mark.parametrize("stored", ["PSR", "RAS", "LPI"])
def test_ixi_axial_slices_orientation_level_and_scaling(tmp_path, stored):
    """Whatever the stored axis order, the slice is axial, anterior up and the patient's right
    on the image's left (radiological convention), at the requested depth below the vertex."""
    path = synthetic_volume(tmp_path / "head.nii.gz", stored)
    images, info = datasets.ixi_axial_slices(path, levels_mm=(60.0, 20.0))
    assert [i["vertex_z"] for i in info] == [110, 110] and [i["z"] for i in info] == [80, 100]
    assert all(i["pixel_mm"] == 2.0 for i in info)
    im = images[0]
    assert im.shape == (120, 120) and im.dtype == np.uint8
    rows, cols = np.nonzero(im == 255)  # the block is above the 99.5th percentile: saturated
    assert 14 <= rows.min() and rows.max() <= 25  # anterior (y 95..104) at the top
    assert 15 + 89 - 74 <= cols.min() and cols.max() <= 15 + 89 - 65  # right side on the left
    assert (im[:, :15] == 0).all() and (im[:, -15:] == 0).all()  # padded 90 -> 120
    assert images[1].max() == 255 and 100 < np.percentile(images[1][images[1] > 0], 50) < 200
    with pytest.raises(data.DataError, match="outside the volume"):
        datasets.ixi_axial_slices(path, levels_mm=(300.0,))


def test_options_include_no_rgb_crop_and_subset(ext_env):
    from utils import preprocessing

    with_no = datasets.load_brain_mri_external(size=16, include_no=True)
    t = with_no.table
    assert len(with_no) == 627 and (t["source"] == "kaggle_external").sum() == 307
    no = t[(t["source"] == "kaggle_external") & (t["y"] == 0)]
    assert len(no) == 7 and set(no["tumour_type"]) == {"none"}
    assert no["view"].value_counts().to_dict() == {"coronal": 4, "sagittal": 2, "axial": 1}

    rgb = datasets.load_brain_mri_external(size=16, mode="RGB", subset=60, seed=1)
    assert rgb.X.shape[1:] == (16, 16, 3)
    assert np.array_equal(rgb.X[..., 0], rgb.X[..., 2])
    t = rgb.table
    assert 50 <= len(rgb) <= 70 and set(t["tumour_type"]) == {"none", *TYPES}
    ixi = t[t["source"] == "ixi"]
    assert (ixi.groupby("subject").size() == 4).all()  # whole subjects only
    again = datasets.load_brain_mri_external(size=16, mode="RGB", subset=60, seed=1)
    assert list(again.table["image_id"]) == list(t["image_id"])  # seeded

    plain = datasets.load_brain_mri_external(size=24, subset=30)
    cropped = preprocessing.load_brain_external_cropped(size=24, subset=30)
    assert list(cropped.table["image_id"]) == list(plain.table["image_id"])
    assert cropped.X.shape == plain.X.shape
    # the head fills more of the frame after the crop: fewer black pixels
    assert (cropped.X < 0.05).mean() < (plain.X < 0.05).mean()


def test_quick_subset_keeps_the_whole_sets_external_split(external):
    from utils import splits

    dev_all, test_all = splits.split_external(external)
    ids = external.table["image_id"].to_numpy()
    assert set(external.table["external_split"]) == {"dev", "test"}
    for subset, seed in ((60, 1), (150, 42)):
        small = datasets.load_brain_mri_external(size=16, subset=subset, seed=seed)
        dev, test = splits.split_external(small)
        small_ids = small.table["image_id"].to_numpy()
        assert len(test) and set(small_ids[test]) <= set(ids[test_all])
        assert len(dev) and set(small_ids[dev]) <= set(ids[dev_all])


def test_ixi_coronal_and_sagittal_slices():
    from utils import datasets

    path = datasets.ixi_t1_table()["path"].iloc[0]
    for view in ("coronal", "sagittal"):
        ims, info = datasets.ixi_view_slices(path, view)
        assert len(ims) == len(datasets.IXI_VIEW_OFFSETS_MM[view])
        assert all(im.dtype == np.uint8 and im.shape[0] == im.shape[1] for im in ims)
        assert len({r["z"] for r in info}) == len(ims)          # distinct planes
        assert all(im.max() == 255 and (im == 0).mean() > 0.1 for im in ims)
    axial, _ = datasets.ixi_axial_slices(path)
    coronal, _ = datasets.ixi_view_slices(path, "coronal")
    assert not np.array_equal(axial[0], coronal[0])
    with pytest.raises(ValueError):
        datasets.ixi_view_slices(path, "oblique")


def test_external_loader_adds_healthy_views():
    from utils import datasets

    ext = datasets.load_brain_mri_external(size=16, ixi_views=("axial", "sagittal"))
    healthy = ext.table[ext.table["source"] == "ixi"]
    assert healthy["view"].value_counts().to_dict() == {"axial": 320, "sagittal": 320}
    assert healthy["image_id"].is_unique and len(ext.X) == len(ext.table) == 300 + 640
    sag = healthy["view"].to_numpy() == "sagittal"
    assert set(healthy["group"][sag]) == set(healthy["group"][~sag])   # grouped by subject
