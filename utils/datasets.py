"""Ready-to-use tables and arrays of the book's three data sets (built on :mod:`utils.data`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from . import data, dedup

CHEST_CLASSES = ("covid", "normal", "viral_pneumonia")

# Problems found by looking at the images (see the data tour).  The files stay in the data:
# removing them silently would hide the problem; tables carry an ``issue`` column instead.
KNOWN_ISSUES = {
    "brain_mri": {
        "yes/Y248.JPG": "not a brain MRI: an abdominal CT slice (liver, spleen, stomach, spine) "
                        "labelled 'tumour'",
    },
    "brain_mri_masks": {
        "Y102.jpg": "the mask marks a region at the back of the skull, not the visible lesion",
        "Y163.jpg": "mask is 271x307 pixels, its image 270x316",
    },
}


@dataclass
class ImageSet:
    """Images ``X`` (N, H, W, C) float32 in [0, 1], labels ``y``, groups and the file table."""

    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    table: object  # pandas.DataFrame, one row per image, aligned with X
    classes: tuple = field(default_factory=tuple)

    def __len__(self) -> int:
        return len(self.y)


def _stack(paths, size, mode, resample="bilinear") -> np.ndarray:
    arrays = [data.read_image(p, mode=mode, size=size, resample=resample) for p in paths]
    X = np.stack(arrays).astype(np.float32) / 255.0
    return X[..., None] if mode == "L" else X


@lru_cache(maxsize=4)
def _brain_table_cached(max_distance: int):
    df = data.fetch("brain_mri")
    df["y"] = (df["label"] == "yes").astype(int)
    small = [data.read_image(p, mode="L") for p in df["path"]]
    df["exact_group"] = dedup.exact_groups(df["sha256"])
    df["near_group"] = dedup.near_groups(small, max_distance=max_distance, exact=df["exact_group"])
    df["issue"] = df["file"].map(KNOWN_ISSUES["brain_mri"]).fillna("")
    return df


def brain_mri_table(max_distance: int = 20):
    """The 253 brain MRI files: path, label (yes/no), y (1 = tumour), exact and near groups,
    and ``issue`` (a known problem of the file, see :data:`KNOWN_ISSUES`; empty for most)."""
    return _brain_table_cached(max_distance).copy()


def load_brain_mri(size: int = 128, mode: str = "L", subset: int | None = None,
                   seed: int = 42) -> ImageSet:
    """Brain MRI images resized to ``size`` x ``size``; groups = near-duplicate groups.

    ``subset`` keeps a stratified random subset of that many images (quick mode).
    """
    df = brain_mri_table()
    if subset is not None and subset < len(df):
        from sklearn.model_selection import train_test_split

        keep, _ = train_test_split(np.arange(len(df)), train_size=subset, random_state=seed,
                                   stratify=df["y"])
        df = df.iloc[np.sort(keep)].reset_index(drop=True)
    X = _stack(df["path"], size, mode)
    return ImageSet(X, df["y"].to_numpy(), df["near_group"].to_numpy(), df, ("no", "yes"))


def brain_mri_mask_pairs():
    """Tumour masks paired with their yes/ images: image_path, mask_path and both sizes.

    One pair (Y163) differs in size; ``size_mismatch`` flags it so a chapter can handle it
    visibly (resize the mask to the image with nearest-neighbour, or drop it).
    """
    from PIL import Image

    masks = data.fetch("brain_mri_masks")
    images = brain_mri_table().set_index("file")
    masks = masks[masks["image"] != ""].copy()
    masks["image_path"] = masks["image"].map(images["path"])
    masks["near_group"] = masks["image"].map(images["near_group"])
    masks = masks.rename(columns={"path": "mask_path"})
    sizes_i = [Image.open(p).size for p in masks["image_path"]]
    sizes_m = [Image.open(p).size for p in masks["mask_path"]]
    masks["image_size"] = sizes_i
    masks["mask_size"] = sizes_m
    masks["size_mismatch"] = [a != b for a, b in zip(sizes_i, sizes_m)]
    masks["issue"] = masks["file"].map(KNOWN_ISSUES["brain_mri_masks"]).fillna("")
    return masks.reset_index(drop=True)


def chest_xray_table(kind: str = "image"):
    """Chest X-ray files of one ``kind`` ("image", "mask" or "annotation"), fetched and verified.

    Images carry ``cls`` (covid, normal, viral_pneumonia) and ``patientid``; for COVID images
    ``mask_path`` is the human lung mask (v7labs: 0 background, 127 ignore, 255 lung).
    """
    df = data.manifest("chest_xray")
    if kind not in set(df["kind"]):
        raise data.DataError(f"kind must be one of {sorted(set(df['kind']))}, not {kind!r}")
    df = data.fetch("chest_xray", df.loc[df["kind"] == kind, "file"])
    if kind == "image":
        masks = data.fetch("chest_xray", data.manifest("chest_xray").query(
            "cls == 'mask_v7'")["file"])
        by_image = dict(zip(masks["paired_image"], masks["path"]))
        df["mask_path"] = df["file"].map(by_image).fillna("")
        # Patients: ieee8023 ids for COVID; the Kermany file names carry 'personN' for pneumonia
        # and are one image per patient for normal, so the file stem stands in.
        pid = df["patientid"].where(df["patientid"] != "", df["file"].map(_kermany_patient))
        df["group"] = df["cls"] + ":" + pid.astype(str)
    return df.reset_index(drop=True)


def _kermany_patient(file: str) -> str:
    stem = file.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    if stem.startswith("person"):  # person101_virus_187 -> person101
        return stem.split("_")[0]
    if "IM-" in stem:  # IM-0003-0001 / NORMAL2-IM-0123-0001 -> the IM-xxxx study number
        return stem.rsplit("-", 1)[0]
    return stem


def load_chest_xray(size: int = 224, mode: str = "L", classes=CHEST_CLASSES) -> ImageSet:
    """Chest X-ray images of the given classes; y indexes ``classes``; groups are patients."""
    df = chest_xray_table("image")
    df = df[df["cls"].isin(classes)].reset_index(drop=True)
    X = _stack(df["path"], size, mode)
    y = df["cls"].map({c: i for i, c in enumerate(classes)}).to_numpy()
    return ImageSet(X, y, df["group"].to_numpy(), df, tuple(classes))


def inventory():
    """Every image of the three data sets with its real format, mode and size (headers only)."""
    import pandas as pd

    parts = []
    bm = brain_mri_table()
    parts.append(bm.assign(dataset="brain_mri", cls=bm["label"])[["dataset", "cls", "file", "path"]])
    mk = data.fetch("brain_mri_masks")
    parts.append(mk.assign(dataset="brain_mri_masks", cls="tumour mask")[["dataset", "cls", "file", "path"]])
    cx = data.fetch("chest_xray", data.manifest("chest_xray").query("kind != 'annotation'")["file"])
    parts.append(cx.assign(dataset="chest_xray")[["dataset", "cls", "file", "path"]])
    df = pd.concat(parts, ignore_index=True)
    info = pd.DataFrame([data.image_info(p) for p in df["path"]])
    df = pd.concat([df, info], axis=1)
    df["format_matches_name"] = [
        (f == "JPEG" and e in (".jpg", ".jpeg")) or (f == "PNG" and e == ".png")
        for f, e in zip(df["format"], df["extension"])
    ]
    return df


def provenance():
    """One row per (data set, folder): files, bytes, source repository, commit and licence."""
    import pandas as pd

    rows = []
    for name in data.DATASETS:
        m = data.manifest(name)
        m["folder"] = m["file"].map(lambda f: f.split("/")[0] if "/" in f else "(root)")
        for (folder, repo, commit, licence), g in m.groupby(
                ["folder", "source_repo", "commit", "licence"]):
            rows.append({"data": f"{name}/{folder}", "files": len(g),
                         "source (repository @ commit)": f"{repo} @ {commit[:7]}",
                         "licence (as stated)": licence})
    return pd.DataFrame(rows)
