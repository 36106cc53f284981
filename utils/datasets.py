"""Ready-to-use tables and arrays of the book's data sets (built on :mod:`utils.data`).

The paper's brain MRI set (:func:`load_brain_mri`), the chest X-rays (:func:`load_chest_xray`)
and the external brain MRI test set (:func:`load_brain_mri_external`: tumour MRIs of another
collection and axial slices of healthy volunteers' T1 volumes from another hospital).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from . import data, dedup

CHEST_CLASSES = ("covid", "normal", "viral_pneumonia")
#: Views of the 7 "no" images of brain_mri_external, by eye (the mirror's README.md).
EXTERNAL_NO_VIEWS = {"no/Tr-no_0106.jpg": "axial", "no/Tr-no_0186.jpg": "sagittal",
                     "no/Tr-no_0188.jpg": "sagittal", "no/Tr-no_0196.jpg": "coronal",
                     "no/Tr-no_0200.jpg": "coronal", "no/Tr-no_0243.jpg": "coronal",
                     "no/Tr-no_0256.jpg": "coronal"}

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
    "brain_mri_external": {
        "yes/Tr-me_1076.jpg": "the source of the 198 augmented AugTraining/meningioma files of "
                              "the GitHub copy: never train on that folder when testing here",
        **{f: f"{view} view, not axial" for f, view in EXTERNAL_NO_VIEWS.items()
           if view != "axial"},
        "no/Tr-no_0106.jpg": "axial, at the level of the posterior fossa (below the tumour "
                             "images' levels)",
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

    def take(self, idx) -> "ImageSet":
        """The images ``idx`` (indices or a boolean mask, in the order given) as an ImageSet:
        X, y, groups and the table's rows (renumbered from 0) together, the same classes."""
        idx = np.asarray(idx)
        if idx.dtype == bool:
            if len(idx) != len(self):
                raise ValueError(f"a mask of {len(idx)} entries for {len(self)} images")
            idx = np.flatnonzero(idx)
        table = None if self.table is None else self.table.iloc[idx].reset_index(drop=True)
        return ImageSet(self.X[idx], self.y[idx], self.groups[idx], table, self.classes)


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


# --------------------------------------------------------------------------------------------
# The external test set: brain_mri_external (tumours) and ixi_t1 (healthy volunteers)
# --------------------------------------------------------------------------------------------
EXTERNAL_TUMOUR_TYPES = ("glioma", "meningioma", "pituitary")
EXTERNAL_SOURCES = ("kaggle_external", "ixi")
#: Depths of the IXI axial slices below the top of the head (the vertex), in mm: from the top of
#: the lateral ventricles down to their frontal horns and the basal ganglia (checked by eye on
#: all 80 volumes), the levels most of the book's axial tumour images (brain_mri) show; see
#: :func:`ixi_axial_slices`.
IXI_LEVELS_MM = (56.0, 62.0, 68.0, 74.0)
#: The IXI slices are scaled to 0..255 by this percentile of the slice's head voxels.
IXI_PERCENTILE = 99.5
#: dHash distance (256 bits) that links two external tumour images into one group; chosen by
#: looking at every pair up to 60 bits (see :func:`brain_mri_external_table`).
EXTERNAL_MAX_DISTANCE = 48
#: Offsets (mm) of the IXI coronal slices from the head's centre (front to back) and of the
#: sagittal slices from its midline (right to left): the views most external tumour images show
#: (:func:`ixi_view_slices`), so that both classes of the external set span the three views.
IXI_VIEW_OFFSETS_MM = {"coronal": (-12.0, -4.0, 4.0, 12.0), "sagittal": (-12.0, -4.0, 4.0, 12.0)}
_IXI_SLICE_RULE = "v1"  # change when the slicing or scaling rule changes (invalidates the cache)


def _where() -> tuple:
    """Where the data comes from now (mirror, cache): part of the in-memory tables' cache key."""
    return (os.environ.get(data.MIRROR_ENV, ""), str(data.cache_dir()))


@lru_cache(maxsize=4)
def _external_table_cached(max_distance: int, where: tuple):
    df = data.fetch("brain_mri_external")
    images = [data.read_image(p, mode="L") for p in df["path"]]
    df["y"] = (df["label"] == "yes").astype(int)
    df["tumour_type"] = df["source_class"].where(df["label"] == "yes", "none")
    df["height"] = [im.shape[0] for im in images]
    df["width"] = [im.shape[1] for im in images]
    df["exact_group"] = dedup.exact_groups(df["sha256"])
    df["near_group"] = dedup.near_groups(images, max_distance=max_distance,
                                         exact=df["exact_group"])
    df["view"] = df["file"].map(EXTERNAL_NO_VIEWS).fillna("")
    df["issue"] = df["file"].map(KNOWN_ISSUES["brain_mri_external"]).fillna("")
    return df


def brain_mri_external_table(max_distance: int = EXTERNAL_MAX_DISTANCE):
    """The 307 files of ``brain_mri_external``, verified: path, label (yes/no), y (1 = tumour),
    ``source_class`` (the source's label: glioma, meningioma, pituitary, notumor),
    ``tumour_type`` (the same, "none" for notumor), pixel ``width`` and ``height``, exact and
    near-duplicate groups, ``view`` (for the 7 "no" images: axial, sagittal or coronal; empty
    for the tumour images, which mix all three views unannotated) and ``issue``.

    Near groups link images whose 256-bit dHash differ in at most ``max_distance`` bits
    (:func:`utils.dedup.near_groups`).  At the 20 bits of :func:`brain_mri_table` every image is
    its own group (the set was built without near-copies).  The default, 48, was chosen by
    looking at every pair up to 60 bits: the 4 pairs within 48 bits are neighbouring slices of
    one patient; from 51 bits on true and false links mix.  Patients repeat beyond these links
    (the source has no patient ids), so the groups are a lower bound on the dependence.
    """
    return _external_table_cached(int(max_distance), _where()).copy()


def ixi_t1_table():
    """The 80 IXI T1 volumes, verified: path, subject, site, label ("no"), age and sex."""
    df = data.fetch("ixi_t1")
    df["age"] = df["age"].replace("", np.nan).astype(float)
    return df


def _head_mask(volume: np.ndarray) -> np.ndarray:
    """The head of a volume: after a 3x3x3 box blur, voxels above 10 % of the 99th percentile,
    largest connected region only (the rule of :func:`utils.preprocessing.content_box`, in 3-D)."""
    from scipy import ndimage

    smooth = ndimage.uniform_filter(volume, size=3)
    mask = smooth > 0.1 * np.percentile(smooth, 99)
    lab, n = ndimage.label(mask)
    if n > 1:
        sizes = ndimage.sum(mask, lab, index=np.arange(1, n + 1))
        mask = lab == (1 + int(np.argmax(sizes)))
    return mask


def ixi_axial_slices(path, levels_mm=IXI_LEVELS_MM, percentile: float = IXI_PERCENTILE):
    """Axial slices of one NIfTI volume as 8-bit images, at ``levels_mm`` below the vertex.

    The volume is read with nibabel and turned to the closest canonical (RAS+) orientation
    (``nib.as_closest_canonical``; the IXI files are stored P, S, R).  The vertex is the
    highest axial plane of the head (:func:`_head_mask`); the slice ``levels_mm`` mm below it is
    taken (nearest plane).  The levels are measured from the vertex, not as a fraction of the
    head's extent in the volume, because the field of view ends at the neck in every IXI
    volume: the head's lower end is where the operator placed the field of view, the vertex is
    anatomy.  In the 80 volumes the vertex lies 96-115 planes (2 mm) above the lowest.

    Each slice is shown as radiology shows an axial image (anterior up, the patient's right on
    the image's left), scaled linearly so that 0 stays black and the ``percentile`` of its head
    voxels becomes 255 (brighter voxels, mostly scalp fat, saturate), rounded to uint8 and
    padded with zeros to a square (the IXI planes are 90 x 120 voxels of 2 x 2 mm: padding
    keeps the head's proportions through a resize).

    Returns ``(images, info)``: a list of square uint8 arrays and a list of dicts with ``z`` (the
    plane's index in the canonical volume), ``vertex_z``, ``level_mm`` and ``pixel_mm``.
    """
    import nibabel as nib

    img = nib.as_closest_canonical(nib.load(str(path)))
    vol = np.asarray(img.dataobj, dtype=np.float32)
    zooms = [float(z) for z in img.header.get_zooms()[:3]]
    if vol.ndim != 3 or abs(zooms[0] - zooms[1]) > 1e-3:
        raise data.DataError(f"{path}: expected a 3-D volume with square axial pixels, got "
                             f"shape {vol.shape} and voxel size {zooms} mm")
    head = _head_mask(vol)
    vertex = int(np.flatnonzero(head.any(axis=(0, 1))).max())
    images, info = [], []
    for level in levels_mm:
        z = int(round(vertex - float(level) / zooms[2]))
        if not 0 <= z < vol.shape[2]:
            raise data.DataError(f"{path}: the plane {level} mm below the vertex (plane "
                                 f"{vertex}) lies outside the volume")
        plane = vol[::-1, ::-1, z].T  # rows: anterior -> posterior; columns: right -> left
        inside = head[::-1, ::-1, z].T
        images.append(_to_u8_square(plane, inside, percentile))
        info.append({"z": z, "vertex_z": vertex, "level_mm": float(level), "pixel_mm": zooms[0]})
    return images, info


def _to_u8_square(plane, inside, percentile: float) -> np.ndarray:
    """One IXI slice as :func:`ixi_axial_slices` and :func:`ixi_view_slices` give it: scaled so
    that 0 stays black and the ``percentile`` of the head voxels becomes 255, rounded to uint8
    and zero-padded to a square."""
    top = float(np.percentile(plane[inside], percentile)) if inside.any() else 0.0
    scaled = np.clip(plane / top, 0.0, 1.0) if top > 0 else np.zeros_like(plane)
    u8 = np.round(scaled * 255.0).astype(np.uint8)
    side = max(u8.shape)
    square = np.zeros((side, side), np.uint8)
    r0, c0 = (side - u8.shape[0]) // 2, (side - u8.shape[1]) // 2
    square[r0:r0 + u8.shape[0], c0:c0 + u8.shape[1]] = u8
    return square


def ixi_view_slices(path, view: str, offsets_mm=None, percentile: float = IXI_PERCENTILE):
    """Coronal or sagittal slices of one IXI volume as 8-bit square images.

    ``view="coronal"``: planes ``offsets_mm`` from the head's centre of mass front to back
    (negative: towards the back), shown superior up and the patient's right on the image's left;
    ``"sagittal"``: planes ``offsets_mm`` from the head's midline (centre of mass right to left),
    superior up and anterior on the left.  Scaled and padded as :func:`ixi_axial_slices` does.
    Returns ``(images, info)`` with ``z`` (the plane's index along its axis) and ``level_mm``
    (the offset).
    """
    import nibabel as nib

    if view not in IXI_VIEW_OFFSETS_MM:
        raise ValueError(f"view must be one of {sorted(IXI_VIEW_OFFSETS_MM)}, not {view!r}")
    offsets = IXI_VIEW_OFFSETS_MM[view] if offsets_mm is None else offsets_mm
    img = nib.as_closest_canonical(nib.load(str(path)))
    vol = np.asarray(img.dataobj, dtype=np.float32)
    zooms = [float(z) for z in img.header.get_zooms()[:3]]
    head = _head_mask(vol)
    axis = 1 if view == "coronal" else 0
    centre = float(np.mean(np.nonzero(head)[axis]))
    images, info = [], []
    for off in offsets:
        k = int(round(centre + float(off) / zooms[axis]))
        if not 0 <= k < vol.shape[axis]:
            raise data.DataError(f"{path}: the {view} plane {off} mm from the centre lies outside")
        if view == "coronal":   # (x, z) -> rows superior..inferior, columns right..left
            plane, inside = vol[::-1, k, ::-1].T, head[::-1, k, ::-1].T
        else:                   # (y, z) -> rows superior..inferior, columns anterior..posterior
            plane, inside = vol[k, ::-1, ::-1].T, head[k, ::-1, ::-1].T
        images.append(_to_u8_square(plane, inside, percentile))
        info.append({"z": k, "vertex_z": -1, "level_mm": float(off), "pixel_mm": zooms[0]})
    return images, info


def ixi_slices(levels_mm=IXI_LEVELS_MM, percentile: float = IXI_PERCENTILE, view: str = "axial"):
    """Axial slices of the 80 IXI volumes (:func:`ixi_axial_slices`), 8-bit, one row each;
    ``view="coronal"`` or ``"sagittal"`` gives those slices instead (:func:`ixi_view_slices`;
    ``levels_mm`` then defaults to :data:`IXI_VIEW_OFFSETS_MM`).

    Returns ``(images, table)``: uint8 array (N, S, S) and a table aligned with it (the volume's
    manifest row plus ``z``, ``vertex_z``, ``level_mm``, ``pixel_mm``), subject by subject, in
    the order of ``levels_mm``.  The volumes are always verified against the manifest first; the
    slices are cached (:func:`utils.data.array_cache`) under a key of the volumes' sha256, the
    levels, the percentile and the rule's version, so a second load takes a fraction of a second.
    """
    import pandas as pd

    volumes = ixi_t1_table()
    if view != "axial" and levels_mm is IXI_LEVELS_MM:
        levels_mm = IXI_VIEW_OFFSETS_MM[view]
    levels = tuple(float(v) for v in levels_mm)
    key = (f"{_IXI_SLICE_RULE}|{levels}|{float(percentile)}|" + "|".join(volumes["sha256"]))
    if view != "axial":
        key = f"{view}|{key}"

    def build():
        images, rows = [], []
        for i, path in enumerate(volumes["path"]):
            ims, info = (ixi_axial_slices(path, levels, percentile) if view == "axial"
                         else ixi_view_slices(path, view, levels, percentile))
            images += ims
            rows += [dict(r, volume=i) for r in info]
        return {"X": np.stack(images),
                **{k: np.array([r[k] for r in rows]) for k in
                   ("volume", "z", "vertex_z", "level_mm", "pixel_mm")}}

    z = data.array_cache("ixi_t1-slices" if view == "axial" else f"ixi_t1-{view}", key, build)
    info = pd.DataFrame({k: z[k] for k in ("z", "vertex_z", "level_mm", "pixel_mm")})
    table = pd.concat([volumes.iloc[z["volume"]].reset_index(drop=True), info], axis=1)
    return z["X"], table


def _prepare(images, size: int, mode: str, crop=None) -> np.ndarray:
    """Grayscale uint8 images -> (N, size, size, C) float32 in [0, 1]: ``crop`` (a function of
    the full-resolution image, or None), then a bilinear resize, as :func:`load_brain_mri` and
    :func:`utils.preprocessing.load_brain_cropped` do; ``mode="RGB"`` repeats the gray channel."""
    from PIL import Image

    if mode not in ("L", "RGB"):
        raise ValueError(f"mode must be 'L' or 'RGB', not {mode!r}")
    out = []
    for im in images:
        im = np.asarray(crop(im) if crop is not None else im, dtype=np.uint8)
        out.append(np.asarray(Image.fromarray(im).resize((size, size), Image.BILINEAR)))
    X = (np.stack(out).astype(np.float32) / 255.0)[..., None]
    return np.repeat(X, 3, axis=-1) if mode == "RGB" else X


def load_brain_mri_external(size: int = 128, mode: str = "L", crop=None,
                            include_no: bool = False, levels_mm=IXI_LEVELS_MM,
                            max_distance: int = EXTERNAL_MAX_DISTANCE,
                            subset: int | None = None, seed: int = 42,
                            ixi_views=("axial",)) -> ImageSet:
    """The external brain MRI test set: tumour MRIs of another collection (label 1) and axial
    slices of healthy volunteers from another hospital (label 0), preprocessed like
    :func:`load_brain_mri`.

    * **Tumours:** the 300 images of ``brain_mri_external`` (100 glioma, 100 meningioma, 100
      pituitary; a public copy of the Kaggle "Brain Tumor MRI Dataset", every near-copy of a
      ``brain_mri`` image removed), source ``"kaggle_external"``.
    * **Healthy:** the slices of the 80 ``ixi_t1`` T1 volumes (IXI, Hammersmith Hospital) at
      ``levels_mm`` below the vertex, 4 per subject by default (:func:`ixi_slices` says how they
      are chosen and scaled to 8 bit), source ``"ixi"``.
    * ``ixi_views``: the views of the healthy slices; add ``"coronal"`` and ``"sagittal"``
      (4 slices per subject each, :func:`ixi_view_slices`) so that the healthy class spans the
      views the tumour images show (their ``view`` is then the IXI slice's; the tumours' stays
      empty, unannotated).
    * **The 7 "no" images of brain_mri_external** are left out unless ``include_no=True``:
      7 images are too few for a specificity, 6 of them are coronal or sagittal (the tumour-free
      class would be told apart by its view), each has another size, and the collection's
      tumour-free class is mostly copies of ``brain_mri/no`` (see ``book/data.md``).  Included,
      they have label 0, tumour type "none", source "kaggle_external" and their ``view``.

    Preprocessing, as for :func:`load_brain_mri`: grayscale, resized (bilinear) to ``size`` x
    ``size``; ``mode="RGB"`` repeats the gray channel.  ``crop`` is applied to each
    full-resolution image before the resize: pass :func:`utils.preprocessing.crop_to_content`
    for the head crop of :func:`utils.preprocessing.load_brain_cropped` (or use
    :func:`utils.preprocessing.load_brain_external_cropped`).  (A function, not a flag: the data
    layer cannot import the preprocessing layer, see :mod:`utils.layers`.)

    Returns an :class:`ImageSet` (classes ``("no", "yes")``, y 1 = tumour) whose ``groups`` never
    mix sources: ``"ixi:<subject>"`` (all slices of one volunteer) and
    ``"kaggle_external:<n>"`` (near-duplicate groups, :func:`brain_mri_external_table`).  The
    table has one row per image: ``image_id``, ``file``, ``path``, ``source``, ``label``, ``y``,
    ``tumour_type`` (glioma, meningioma, pituitary or none), ``source_class``, ``group``,
    ``subject`` (IXI id; empty for the Kaggle images, which have no patient ids), the
    original ``width`` and ``height`` in pixels (for IXI: of the padded slice), ``pixel_mm``
    (2.0 for IXI, unknown for Kaggle), ``view``, ``level_mm``, ``z``, ``age``, ``sex``,
    ``issue`` and ``sha256`` (of the file; for a slice, of its volume).

    ``external_split`` (``"dev"`` or ``"test"``): the row's half of the external set's one
    development/test split, made on the whole set (:func:`utils.splits.external_subset`) and
    returned by :func:`utils.splits.split_external`.  ``subset`` keeps about that many images
    (quick mode): whole groups, drawn seeded (``seed``) per stratum inside each half, so a
    subset's external-test images are external-test images of the whole set.

    Caveat: class and source are confounded by construction (every tumour from one collection,
    every healthy brain from another, at different resolutions), and so is the view: the IXI
    slices are axial, while most of the tumour images are coronal or sagittal (about 25 of the
    300 look axial; the views are not annotated).  Report sensitivity on the tumours and
    specificity on the healthy slices separately, besides AUC, and measure the shortcuts.
    """
    import pandas as pd

    ext = brain_mri_external_table(max_distance)
    if not include_no:
        ext = ext[ext["label"] == "yes"]
    ext = ext.reset_index(drop=True)
    ext_images = [data.read_image(p, mode="L") for p in ext["path"]]
    kaggle = pd.DataFrame({
        "image_id": ext["file"], "file": ext["file"], "path": ext["path"],
        "source": "kaggle_external", "label": ext["label"], "y": ext["y"],
        "tumour_type": ext["tumour_type"], "source_class": ext["source_class"],
        "group": "kaggle_external:" + ext["near_group"].astype(str), "subject": "",
        "width": ext["width"], "height": ext["height"], "pixel_mm": np.nan, "view": ext["view"],
        "level_mm": np.nan, "z": -1, "age": np.nan, "sex": "", "issue": ext["issue"],
        "sha256": ext["sha256"],
    })
    healthy_parts, ixi_arrays = [], []
    for view in ixi_views:
        ixi_images, ixi = (ixi_slices(levels_mm) if view == "axial" else ixi_slices(view=view))
        tag = "#z" if view == "axial" else f"#{view}"
        healthy_parts.append(pd.DataFrame({
            "image_id": ixi["file"] + tag + ixi["z"].astype(str), "file": ixi["file"],
            "path": ixi["path"], "source": "ixi", "label": "no", "y": 0, "tumour_type": "none",
            "source_class": "healthy volunteer", "group": "ixi:" + ixi["subject"],
            "subject": ixi["subject"], "width": ixi_images.shape[2], "height": ixi_images.shape[1],
            "pixel_mm": ixi["pixel_mm"], "view": view, "level_mm": ixi["level_mm"],
            "z": ixi["z"], "age": ixi["age"], "sex": ixi["sex"], "issue": "",
            "sha256": ixi["sha256"],
        }))
        ixi_arrays += list(ixi_images)
    healthy = pd.concat(healthy_parts, ignore_index=True)
    table = pd.concat([kaggle, healthy], ignore_index=True)
    images = ext_images + ixi_arrays
    from .splits import external_subset

    keep, part = external_subset(table, subset, seed)
    table = table.iloc[keep].reset_index(drop=True).assign(external_split=part)
    images = [images[i] for i in keep]
    X = _prepare(images, size, mode, crop)
    return ImageSet(X, table["y"].to_numpy(), table["group"].to_numpy(), table, ("no", "yes"))


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


# --------------------------------------------------------------------------------------------
# 3-D data: hippocampus MRI volumes (MSD Task04) and AdrenalMNIST3D (MedMNIST v2)
# --------------------------------------------------------------------------------------------
HIPPO_STRUCTURES = ("background", "anterior", "posterior")
ADRENAL_CLASSES = ("normal", "mass")
ADRENAL_SPLITS = ("train", "val", "test")
#: The official split's sizes and masses, as the MedMNIST v2 release gives them (the data card
#: states them without loading the data; tests/test_volumes.py checks them against the file).
ADRENAL_SPLIT_COUNTS = {"train": (1188, 259), "val": (98, 22), "test": (298, 69)}


@dataclass
class VolumeSet:
    """Volumes of different shapes: ``images`` (list of float32 arrays, intensities as stored),
    ``labels`` (list of uint8 label maps, same shapes), ``cases``, ``stored_dtypes`` and
    ``spacing`` (one tuple per volume, mm)."""

    images: list
    labels: list
    cases: list
    stored_dtypes: list
    spacing: list

    def __len__(self) -> int:
        return len(self.cases)


def hippocampus_table(kind: str | None = None):
    """The hippocampus data set's manifest rows (``kind`` image, label or dicom; all when None),
    verified, with a ``path`` column."""
    m = data.manifest("hippocampus")
    if kind is not None:
        m = m[m["kind"] == kind]
    return data.fetch("hippocampus", m["file"])


def load_hippocampus(cases=None) -> VolumeSet:
    """The hippocampus image/label pairs (260: the cases with both files), verified.

    ``cases`` (names such as ``"hippocampus_001"``) loads only those.  Images are read with
    :func:`utils.data.read_nifti` (float32; 205 files store float32, 56 uint8: normalise per
    volume); labels are 0 background, 1 anterior, 2 posterior.  A label map whose shape
    differs from its image's raises :class:`utils.data.DataError`.
    """
    m = data.manifest("hippocampus")
    m = m[m["kind"].isin(["image", "label"])]
    # pair by case: the manifest's "paired" column says "yes" for the labels 010 and 281 too,
    # whose images are not in the data set
    both = m.groupby("case")["kind"].nunique()
    m = m[m["case"].isin(both.index[both == 2])]
    if cases is not None:
        wanted = list(cases)
        unknown = sorted(set(wanted) - set(m["case"]))
        if unknown:
            raise data.DataError(f"hippocampus: no image/label pair for {unknown[:5]}")
        m = m[m["case"].isin(wanted)]
    df = data.fetch("hippocampus", m["file"], progress=False)
    images, labels, names, dtypes, spacing = [], [], [], [], []
    for case, g in df.groupby("case", sort=True):
        paths = dict(zip(g["kind"], g["path"]))
        img, lab = data.read_nifti(paths["image"]), data.read_nifti(paths["label"])
        if img.shape != lab.shape:
            raise data.DataError(f"hippocampus/{case}: label {lab.shape} and image {img.shape} "
                                 "differ in shape")
        images.append(img.array)
        labels.append(np.rint(lab.array).astype(np.uint8))
        names.append(case)
        dtypes.append(img.stored_dtype)
        spacing.append(img.spacing)
    return VolumeSet(images, labels, names, dtypes, spacing)


def load_dicom_series(series: str = "11-T1post-18670") -> "data.Volume":
    """One of the hippocampus data set's two DICOM series (``"11-T1post-18670"``, the
    anisotropic brain MR; ``"11_HCropVolume"``, the cropped one), verified, read with
    :func:`utils.data.read_dicom_series`."""
    m = data.manifest("hippocampus")
    m = m[(m["kind"] == "dicom") & (m["case"] == series)]
    if m.empty:
        raise data.DataError(f"hippocampus: no DICOM series {series!r}")
    return data.read_dicom_series(data.fetch("hippocampus", m["file"], progress=False)["path"])


def load_adrenal3d(size: int = 28) -> dict:
    """AdrenalMNIST3D's official split, verified: ``{"train": (X, y), "val": ..., "test": ...}``
    with ``X`` uint8 (N, size, size, size) binary shape masks (0 or 255) and ``y`` int labels
    (0 normal, 1 adrenal mass).  ``size`` is 28 or 64."""
    files = {28: "adrenalmnist3d.npz", 64: "adrenalmnist3d_64.npz"}
    if size not in files:
        raise ValueError(f"size must be 28 or 64, not {size}")
    path = data.fetch("adrenal_mnist3d", [files[size]], progress=False)["path"].iloc[0]
    try:
        with np.load(path, allow_pickle=False) as z:
            out = {s: (z[f"{s}_images"], z[f"{s}_labels"].reshape(-1).astype(int))
                   for s in ADRENAL_SPLITS}
    except Exception as err:
        raise data.ImageDecodeError(f"{path}: cannot read this .npz ({err})") from err
    return out
