"""The 3-D data layer (NIfTI, DICOM series, the two loaders) and utils.volumes."""
import shutil

import numpy as np
import pytest

from utils import data, datasets, volumes

SERIES = "hippocampus/dicom/Study3/11_HCropVolume"


def flip_byte(path, offset=None):
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2 if offset is None else offset] ^= 0xFF
    path.write_bytes(bytes(raw))


def copy_mirror(mirror, tmp_path, dataset, files):
    for f in files:
        dest = tmp_path / "mirror" / dataset / f
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(mirror / dataset / f, dest)
    return tmp_path / "mirror"


# ---------------------------------------------------------------------------- loaders
def test_load_hippocampus_pairs(mirror_env):
    vs = datasets.load_hippocampus(["hippocampus_001", "hippocampus_003"])
    assert vs.cases == ["hippocampus_001", "hippocampus_003"]
    for img, lab in zip(vs.images, vs.labels):
        assert img.shape == lab.shape and img.dtype == np.float32
        assert set(np.unique(lab)) == {0, 1, 2}
    assert vs.spacing[0] == (1.0, 1.0, 1.0)
    with pytest.raises(data.DataError, match="no image/label pair"):
        datasets.load_hippocampus(["hippocampus_010"])  # a label without its image


def test_load_hippocampus_all_pairs_and_dtypes(mirror_env):
    m = data.manifest("hippocampus")
    both = m[m["kind"].isin(["image", "label"])].groupby("case")["kind"].nunique()
    assert int((both == 2).sum()) == 260
    assert "hippocampus_118" in both.index[both == 1]


def test_corrupted_hippocampus_file_raises(mirror, tmp_path, monkeypatch):
    files = ["images/hippocampus_001.nii.gz", "labels/hippocampus_001.nii.gz"]
    root = copy_mirror(mirror, tmp_path, "hippocampus", files)
    flip_byte(root / "hippocampus" / files[0])
    monkeypatch.setenv("DLBI_DATA_MIRROR", str(root))
    monkeypatch.setenv("DLBI_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("DLBI_OFFLINE", "1")
    with pytest.raises(data.IntegrityError, match="hippocampus_001"):
        datasets.load_hippocampus(["hippocampus_001"])


def test_truncated_nifti_is_a_decode_error(mirror, tmp_path):
    src = mirror / "hippocampus/images/hippocampus_001.nii.gz"
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(src.read_bytes()[:2000])
    with pytest.raises(data.ImageDecodeError, match="bad.nii.gz"):
        data.read_nifti(bad)


def test_load_adrenal3d_official_split(mirror_env):
    split = datasets.load_adrenal3d(28)
    counts = {k: (len(v[1]), int(v[1].sum())) for k, v in split.items()}
    assert counts == {"train": (1188, 259), "val": (98, 22), "test": (298, 69)}
    assert counts == datasets.ADRENAL_SPLIT_COUNTS
    assert split["test"][0].shape[1:] == (28, 28, 28)
    with pytest.raises(ValueError):
        datasets.load_adrenal3d(32)


def test_corrupted_adrenal_file_raises(mirror, tmp_path, monkeypatch):
    root = copy_mirror(mirror, tmp_path, "adrenal_mnist3d", ["adrenalmnist3d.npz"])
    flip_byte(root / "adrenal_mnist3d" / "adrenalmnist3d.npz")
    monkeypatch.setenv("DLBI_DATA_MIRROR", str(root))
    monkeypatch.setenv("DLBI_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("DLBI_OFFLINE", "1")
    with pytest.raises(data.IntegrityError, match="adrenalmnist3d.npz"):
        datasets.load_adrenal3d(28)


# ---------------------------------------------------------------------------- DICOM
def test_dicom_series_sorted_by_position_with_spacing(mirror_env):
    vol = datasets.load_dicom_series("11-T1post-18670")
    assert vol.shape == (22, 320, 280)
    assert vol.spacing[1:] == (0.6875, 0.6875)
    assert vol.spacing[0] == pytest.approx(6.5, abs=1e-6)  # positions, not SliceThickness (5)
    # sorted: the affine's slice axis steps by +spacing along the normal
    paths = sorted((mirror_env / "hippocampus/dicom/Study3/11-T1post-18670").glob("*.dcm"))
    shuffled = data.read_dicom_series(paths[::-1])
    assert np.array_equal(shuffled.array, vol.array)


def test_dicom_rescale_is_applied(mirror, tmp_path):
    import pydicom

    paths = sorted((mirror / SERIES).glob("*.dcm"))
    plain = data.read_dicom_series(paths)
    out = []
    for p in paths:
        ds = pydicom.dcmread(p)
        ds.RescaleSlope, ds.RescaleIntercept = 2, -100
        ds.save_as(tmp_path / p.name)
        out.append(tmp_path / p.name)
    scaled = data.read_dicom_series(out)
    assert np.allclose(scaled.array, plain.array * 2 - 100)


def test_incomplete_dicom_series_raises(mirror):
    paths = sorted((mirror / SERIES).glob("*.dcm"), key=lambda p: int(p.stem))
    with pytest.raises(data.DicomSeriesError, match="missing"):
        data.read_dicom_series(paths[:10] + paths[11:])
    with pytest.raises(data.DicomSeriesError, match="one position"):
        data.read_dicom_series(paths + paths[:1])
    with pytest.raises(data.DicomSeriesError, match="at least two"):
        data.read_dicom_series(paths[:1])
    # the two series mixed: other sizes
    other = sorted((mirror / "hippocampus/dicom/Study3/11-T1post-18670").glob("*.dcm"))
    with pytest.raises(data.DicomSeriesError):
        data.read_dicom_series(paths + other[:2])


# ---------------------------------------------------------------------------- volumes
def test_resample_spacing_and_labels():
    rng = np.random.default_rng(0)
    img = rng.random((10, 40, 30)).astype(np.float32)
    out, spacing = volumes.resample(img, (5.0, 1.0, 1.0), 2.0)
    assert out.shape == (25, 20, 15)
    assert spacing == pytest.approx((2.0, 2.0, 2.0))
    lab = np.zeros((10, 40, 30), np.uint8)
    lab[3:7, 10:30, 5:20] = 1
    lab[4:6, 15:25, 10:15] = 2
    near, _ = volumes.resample(lab, (5.0, 1.0, 1.0), 1.0, label=True)
    assert set(np.unique(near)) == {0, 1, 2} and near.dtype == np.uint8
    linear, _ = volumes.resample(lab.astype(np.float32), (5.0, 1.0, 1.0), 1.0)
    assert len(np.unique(linear)) > 3  # linear interpolation invents values
    # the structure's volume in mm^3 is about preserved by nearest resampling
    assert (near == 2).sum() * 1.0 == pytest.approx((lab == 2).sum() * 5.0, rel=0.1)


def test_normalise_and_pad_or_crop_round_trip():
    v = np.arange(5 * 7 * 9, dtype=np.float32).reshape(5, 7, 9) * 3 + 10
    n = volumes.normalise(v)
    assert abs(n.mean()) < 1e-5 and abs(n.std() - 1) < 1e-4
    out, box = volumes.pad_or_crop(v, (8, 4, 9))
    assert out.shape == (8, 4, 9)
    assert np.array_equal(out[1:6, :, :], v[:, 1:5, :])
    back = volumes.restore(out, box)
    assert back.shape == v.shape
    assert np.array_equal(back[:, 1:5], v[:, 1:5]) and (back[:, 0] == 0).all()


def test_dice_per_structure():
    t = np.zeros((4, 4, 4), np.uint8)
    t[:2] = 1
    t[2:] = 2
    p = t.copy()
    p[3] = 0
    df = volumes.dice_per_structure([t], [p])
    assert df.loc[0, "anterior"] == 1.0
    assert df.loc[0, "posterior"] == pytest.approx(2 * 16 / (32 + 16))
    assert df.loc[0, "mean"] == pytest.approx((1 + 2 / 3) / 2)


def test_builders_shapes():
    m = volumes.cnn3d((28, 28, 28, 1))
    assert m.output_shape == (None, 1)
    m2 = volumes.cnn3d((28, 28, 1))
    assert m2.output_shape == (None, 1) and m2.count_params() < m.count_params()
    u = volumes.unet3d((16, 24, 16, 1), n_classes=3, base_filters=4)
    assert u.output_shape == (None, 16, 24, 16, 3)
    u2 = volumes.unet3d((24, 16, 1), n_classes=3, base_filters=4)
    assert u2.output_shape == (None, 24, 16, 3)
    with pytest.raises(ValueError, match="divisible"):
        volumes.unet3d((18, 24, 16, 1))
    small = volumes.activation_bytes(volumes.unet3d((16, 16, 16, 1), base_filters=4))
    big = volumes.activation_bytes(volumes.unet3d((32, 32, 32, 1), base_filters=4))
    assert big == 8 * small


def test_random_flips_same_for_labels():
    x = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    xa, ya = volumes.random_flips(x, x.copy(), seed=1)
    assert np.array_equal(xa, ya) and not np.array_equal(xa, x)



def test_predict_flips_averages_and_flips_back():
    class Corner:                      # a classifier reading one corner voxel
        def predict(self, x, batch_size=32, verbose=0):
            return x[:, 0, 0, 0].reshape(len(x), 1)

    class Identity:                    # a 'segmenter' returning its input as one class map
        def predict(self, x, batch_size=32, verbose=0):
            return x

    assert volumes.flip_combinations((1, 2)) == [(), (1,), (2,), (1, 2)]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 2, 3, 4, 1)).astype(np.float32)
    corners = [x[:, i, j, k, 0] for i in (0, -1) for j in (0, -1) for k in (0, -1)]
    got = volumes.predict_flips(Corner(), x, axes=(1, 2, 3)).ravel()
    assert np.allclose(got, np.mean(corners, axis=0), atol=1e-6)
    # flipped copies are flipped back: an identity map comes back unchanged
    assert np.allclose(volumes.predict_flips(Identity(), x, axes=(1, 2)), x, atol=1e-6)
    # the average is invariant to flipping the input
    flipped = volumes.predict_flips(Corner(), np.flip(x, axis=2)).ravel()
    assert np.allclose(flipped, got, atol=1e-6)


def test_peak_memory_one_step_is_measured_and_grows():
    small = volumes.peak_memory_one_step((8, 8, 8), batch_size=4)
    same, large = volumes.peak_memory_steps([(8, 8, 8), (32, 32, 32)], batch_size=4)
    assert abs(same["step_mb"] - small["step_mb"]) < 20     # run side by side, no interference
    for r in (small, large):
        assert r["peak_mb"] >= r["before_mb"] > 50          # a Python process with TensorFlow
        assert r["step_mb"] == r["peak_mb"] - r["before_mb"]
    # 256 times the voxels: the step needs more memory (activations alone: tens of MB)
    assert large["step_mb"] > small["step_mb"] + 5
