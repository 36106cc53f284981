"""Generate book/data.md (the data card) from the committed manifests.

    python scripts/make_datacard.py          # rewrite book/data.md
    python scripts/make_datacard.py --check  # exit 1 if book/data.md is out of date

Counts, sizes, sources, commits and licences are computed from utils/manifests/*.csv; only the
explanatory prose is written here.  tests/test_structure.py runs --check.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from utils import data, datasets  # noqa: E402

OUT = ROOT / "book" / "data.md"

INTRO = """# Data and licences

This page is generated from the manifests in `utils/manifests/` by `scripts/make_datacard.py`;
do not edit it by hand. Every file listed there is downloaded from the named public repository at
the pinned commit (or read from a local mirror named by `DLBI_DATA_MIRROR`) and checked against
its sha256 before use. The images themselves are not part of this repository.

Licences are given **as stated by the sources**. Several sources state none; the Kaggle page of
the brain MRI set is the authority for that set. Use the data for learning and research, cite the
original authors, and check the licence of each file before any other use.
"""

PROBLEMS = {
    "brain_mri": """**Known problems.**
- **Duplicates.** {n_copies} files are byte-identical copies of others ({n_distinct} distinct
  byte contents), and more pictures appear twice re-encoded or resized (see the data tour). Every
  split in this book is grouped by near-duplicate group.
- **Mixed formats.** Six files named `.jpg` are PNG images; modes include RGB, grayscale, RGBA and
  palette. The loader decodes by content.
- **Label error.** `yes/Y248.JPG` is an abdominal CT slice, not a brain MRI, labelled "tumour".
- **Mixed sizes and sequences.** From about 150 to 1920 pixels wide; T1, T2 and FLAIR slices are
  mixed, some with text or rulers. Labels are image-level (tumour or not), with no patient ids.
- **Provenance.** The Kaggle set (Navoneel Chakrabarty, 2019) states no acquisition details; the
  copy used here is byte-identical to the set in the GitHub repository below.""",
    "brain_mri_masks": """**Known problems.**
- Masks exist for 128 of the 155 tumour images; their author and method are not documented, so
  they serve teaching, not clinical benchmarking.
- The mask of `Y102` marks a region at the back of the skull, not the visible lesion.
- {mask_formats}; threshold them at 127 to binarise. One mask (Y163) is 271x307 while its
  image is 270x316 and must be resized (nearest neighbour) or dropped.
- Names differ in case from the images (`Y1.jpg` vs `Y1.JPG`); `image` in the manifest pairs them.""",
    "chest_xray": """**Known problems.**
- **Different sources per class.** COVID-19 images are adult X-rays of every size collected from
  papers and websites (ieee8023 collection), some with arrows and text; normal and viral-pneumonia
  images are paediatric X-rays from one hospital (Kermany et al.), resized to 512x512 by the
  repository they came from. A classifier can tell the classes apart by source alone.
- **Several images per patient** among the COVID-19 images: split by patient.
- **Lung masks.** v7labs masks: 0 background, 255 lung, 127 "ignore" (devices, text). lungVAE masks
  are automatic predictions, not ground truth.
- **Licences differ per image** ({image_licences}): see the manifest.""",
    "brain_mri_external": """**Known problems.**
- **"Independent" public sets recycle each other's images.** The tumour-free class of the source
  collection (`notumor`, from Br35H and SARTAJ) is almost entirely copies of `brain_mri/no`:
  96 of those 98 images reappear there, a median of 16 times each (up to 71), re-encoded,
  re-cropped or contrast-altered, and 19 of its meningioma images are copies of `brain_mri/yes`
  images. An external test that ignores this tests on training images. Every candidate was
  compared with all 253 `brain_mri` images (sha256, dHash of the image and of the head crop,
  correlations of thumbnails, over 8 orientations and several crops; see the mirror's
  README.md) and every near-copy was removed, which is why only {n_no} tumour-free images are left.
- **{n_no} "no" images only**, {n_no_views}, each of another size: too few
  for a specificity, an accuracy or an AUC. `load_brain_mri_external` leaves them out by
  default; its tumour-free images are IXI slices (`ixi_t1`): axial by default, all three
  views (`ixi_views`) where the book tests on them (the external-validation chapter, the
  model chapter, the capstone).
- **Mostly coronal and sagittal.** 287 of the 300 tumour images are 512x512 figshare-style
  slices; by a look at thumbnails of all 300, only about 25 are axial (1 glioma, about 10
  meningiomas, about 13 pituitary tumours), the rest coronal or sagittal, while the `brain_mri`
  images are almost all axial. (Probably a side effect of the copy removal: the loose tests also
  dropped axial candidates that merely resembled a `brain_mri` slice.) The views are not
  annotated in the manifest.
- **Class is confounded with source, size and view.** The healthy images of the external test
  come from another collection, hospital and scanner (IXI: 2 mm slices). A model can tell
  the external classes apart by source, size, resolution or view alone: keep preprocessing the
  same for both, report sensitivity on the tumours and specificity on the healthy slices
  separately, and measure the shortcut.
- **Patients repeat.** The source has no patient ids and figshare gives several slices per
  patient; only near-identical slices were removed. Near-duplicate groups (dHash within
  {max_distance} bits) link just 4 pairs of neighbouring slices; more slices of one patient
  remain, and patients of `brain_mri` may appear through other slices.
- **Labels are the source's.** The subtypes come from three collections and were not checked by a
  radiologist; treat `source_class` as the source's label, not ground truth.
- **Not the Kaggle files.** The GitHub copy holds the uploader's grayscale re-encodings (probably
  CLAHE-enhanced). `yes/Tr-me_1076.jpg` is the source of that repository's 198 augmented
  meningioma files: never train on its `AugTraining/` folder when testing on this set.
- **Licence.** The GitHub copy states none. Kaggle lists the collection as CC0-1.0; it combines
  figshare (Cheng et al., CC BY 4.0), SARTAJ and Br35H, whose own terms apply. The Kaggle page
  and the original sources are the authority; credit figshare / Cheng et al.""",
    "ixi_t1": """**Known problems.**
- **Not the original IXI files.** The NiChart project resampled them to 2 mm; this is a seeded
  random subset of the 185 volumes in its repository,
  {n_sites}: one site, one scanner (Philips 3 T). Skull and neck
  are present; intensities are floats on no fixed scale (the loader scales each slice to 8 bit
  by the {percentile:g}th percentile of its head voxels).
- **Another resolution than the tumour images.** Planes of 2 mm voxels (axial 90 x 120) against
  the 512x512 tumour slices: resolution differs by class in the external test, a shortcut to
  audit.
- **Healthy volunteers, not patients.** "No tumour" here means a healthy brain scanned for
  research, not a patient scanned for a suspected tumour: an easier negative class than a clinic
  sees.
- **Slices of one subject are not independent.** The loader takes {n_levels} axial slices per
  subject ({levels} mm below the vertex, around the lateral ventricles) and, with
  `ixi_views`, as many coronal and sagittal planes at fixed offsets from the head's centre
  (`datasets.IXI_VIEW_OFFSETS_MM`); group them by subject.
- Age and sex are known for {n_age} of the {n_subjects} subjects.
- **Licence CC BY-SA 3.0.** Attribute the IXI data set (Imperial College London). Share-alike:
  data derived from it (slices, resampled volumes, figures showing them) must be shared under the
  same licence.""",
    "hippocampus": """**Known problems.**
- **Gaps.** {n_label_only} label maps have no image here ({label_only}) and {n_image_only} image
  has no label ({image_only}): {n_pairs} image/label pairs. `load_hippocampus` pairs by case; the
  mirror manifest's `paired` column says "yes" for the two lonely labels too, so it is not used.
- **Two data types.** The images are stored as float32 or uint8, on different intensity scales:
  normalise each volume before training.
- **Cropped, 1 mm.** Each volume is a crop of about 35x50x36 voxels around the hippocampus, not a
  whole brain; shapes differ from case to case (pad or crop before batching).
- **No subject ids.** Each case is taken to be one subject; a held-out split by case is the best
  grouping available.
- **Not verified against the official archive.** The files come from a course repository; no
  official per-file checksums exist for the Decathlon, so byte identity is likely but unproven.
- **DICOM series.** `dicom/` holds one anisotropic brain MR series ({n_dicom_big} slices) and one
  cropped series ({n_dicom_small} slices); their licence is not stated in the GitHub copy (they
  appear to come from TCIA's Brain-Tumor-Progression collection, CC BY 3.0 there: unverified).
- **Licence CC BY-SA 4.0 (share-alike).** Attribute the Medical Segmentation Decathlon; data
  derived from it (resampled volumes, predictions shown as figures) must be shared under the same
  licence.""",
    "adrenal_mnist3d": """**Known problems.**
- **Shapes, not CT.** The volumes are binary shape masks of the adrenal gland derived from CT
  (values 0 and 255), not CT intensities: a model learns shape only.
- **Imbalanced.** About 23 % of the volumes show a mass: always answering "normal" is right for
  most of the test set; report AUC and balanced accuracy.
- **No patient ids.** The official train/val/test split is given and used as it is.
- **Licence CC BY 4.0.** Attribute MedMNIST v2 and its source (Zhongshan Hospital).""",
}

TITLES = {
    "brain_mri": "Brain MRI Images for Brain Tumor Detection",
    "brain_mri_masks": "Tumour masks for the brain MRI set",
    "chest_xray": "Chest X-rays: COVID-19, normal and viral pneumonia, with lung masks",
    "brain_mri_external": "External brain tumour MRIs: glioma, meningioma, pituitary, from a "
                          "copy of the Kaggle Brain Tumor MRI Dataset",
    "ixi_t1": "External healthy brains: IXI T1 volumes (2 mm copy)",
    "hippocampus": "Hippocampus MRI volumes with labels (Medical Segmentation Decathlon Task04)",
    "adrenal_mnist3d": "AdrenalMNIST3D: 3-D adrenal shapes, normal or mass (MedMNIST v2)",
}


def _table(df) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(str(v).replace("|", "/") for v in row) + " |")
    return "\n".join(lines)


_FORMATS = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG"}


def _formats(m, what: str) -> str:
    """'Masks are JPEG files (127 of 128), except `Y92.png` (PNG)', from the file names in manifest ``m`` (the data
    tour's inventory confirms that the masks' names match their content)."""
    fmt = m["file"].str.rsplit(".", n=1).str[-1].str.lower().map(lambda e: _FORMATS.get(e, e.upper()))
    main = fmt.value_counts().index[0]
    others = [f"`{f}` ({k})" for f, k in zip(m["file"], fmt) if k != main]
    return (f"{what} are {main} files ({int((fmt == main).sum())} of {len(m)})"
            + (f", except {', '.join(others)}" if others else ""))


def _licences(m) -> str:
    """The distinct licences of the images in manifest ``m``, without the sources' remarks in
    parentheses, sorted."""
    rows = m[m["kind"] == "image"] if "kind" in m else m
    return ", ".join(sorted({lic.split(" (")[0].strip() for lic in rows["licence"]}))


def _external_facts(m) -> dict:
    """Numbers of the two external sets' prose, from their manifests and the loader's constants."""
    if "source_class" in m:
        no = m.loc[m["label"] == "no", "file"]
        views = no.map(datasets.EXTERNAL_NO_VIEWS).fillna("view unknown").value_counts()
        return {"n_no": len(no), "max_distance": datasets.EXTERNAL_MAX_DISTANCE,
                "n_no_views": ", ".join(f"{n} {v}" for v, n in views.items())}
    if "subject" in m:
        sites = m.groupby("site").size()
        levels = datasets.IXI_LEVELS_MM
        return {"n_sites": ", ".join(f"{n} from site {k} (Hammersmith Hospital)" if k == "HH"
                                     else f"{n} from site {k}" for k, n in sites.items()),
                "n_levels": len(levels), "percentile": datasets.IXI_PERCENTILE,
                "levels": ", ".join(f"{v:g}" for v in levels),
                "n_age": int((m["age"] != "").sum()), "n_subjects": m["subject"].nunique()}
    if "paired" in m:  # hippocampus
        kinds = m.groupby("case")["kind"].agg(set)
        label_only = sorted(c for c, k in kinds.items() if k == {"label"})
        image_only = sorted(c for c, k in kinds.items() if k == {"image"})
        dicom = m[m["kind"] == "dicom"].groupby("case").size()
        return {"n_label_only": len(label_only), "label_only": ", ".join(label_only),
                "n_image_only": len(image_only), "image_only": ", ".join(image_only),
                "n_pairs": sum(1 for k in kinds if k == {"image", "label"}),
                "n_dicom_big": int(dicom.get("11-T1post-18670", 0)),
                "n_dicom_small": int(dicom.get("11_HCropVolume", 0))}
    return {}


def render() -> str:
    parts = [INTRO]
    for name in data.DATASETS:
        m = data.manifest(name)
        m["folder"] = m["file"].map(lambda f: f.split("/")[0] if "/" in f else "(root)")
        if name == "brain_mri":
            counts = m.groupby("label").size()
            summary = f"{len(m)} images: " + ", ".join(f"{n} `{k}`" for k, n in counts.items())
        elif name == "brain_mri_masks":
            summary = f"{len(m)} masks, {int((m['image'] != '').sum())} paired with a `yes/` image"
        elif name == "brain_mri_external":
            yes = m[m["label"] == "yes"]
            types = yes.groupby("source_class").size()
            summary = (f"{len(m)} images: {len(yes)} `yes` ("
                       + ", ".join(f"{n} {c}" for c, n in types.items())
                       + f"), {int((m['label'] == 'no').sum())} `no` (the source's notumor)")
        elif name == "ixi_t1":
            ages = m["age"].replace("", float("nan")).astype(float)
            sexes = m.loc[m["sex"] != ""].groupby("sex").size()
            summary = (f"{len(m)} T1-weighted volumes of {m['subject'].nunique()} healthy "
                       f"volunteers (site {', '.join(sorted(set(m['site'])))}; age "
                       f"{ages.min():.0f}-{ages.max():.0f}, "
                       + ", ".join(f"{n} {k}" for k, n in sexes.items())
                       + ")")
        elif name == "hippocampus":
            kinds = m.groupby("kind").size()
            summary = (f"{kinds.get('image', 0)} MRI volumes (NIfTI), {kinds.get('label', 0)} "
                       f"label maps (0 background, 1 anterior, 2 posterior hippocampus), "
                       f"{kinds.get('dicom', 0)} DICOM files of two series")
        elif name == "adrenal_mnist3d":
            split = datasets.ADRENAL_SPLIT_COUNTS
            summary = (f"{len(m)} files (28³ and 64³ versions of the same "
                       f"{sum(n for n, _ in split.values())} volumes; official split "
                       + ", ".join(f"{k} {n} ({masses} masses)"
                                   for k, (n, masses) in split.items()) + ")")
        else:
            kinds = m.groupby("kind").size()
            imgs = m[m["kind"] == "image"]
            summary = (f"{kinds.get('image', 0)} images ("
                       + ", ".join(f"{n} {c}" for c, n in imgs.groupby('cls').size().items())
                       + f"; {imgs.loc[imgs['cls'] == 'covid', 'patientid'].nunique()} COVID-19 patients), "
                       f"{kinds.get('mask', 0)} lung masks, {kinds.get('annotation', 0)} annotation files")
        src = (m.groupby(["folder", "source_repo", "commit", "licence"])
               .agg(files=("file", "size"), MB=("bytes", lambda b: round(b.sum() / 1e6, 1)))
               .reset_index())
        src["commit"] = src["commit"].str[:12]
        src = src[["folder", "files", "MB", "source_repo", "commit", "licence"]]
        src.columns = ["folder", "files", "MB", "source repository", "commit", "licence (as stated)"]
        problems = PROBLEMS[name].format(n_distinct=m["sha256"].nunique(),
                                         n_copies=len(m) - m["sha256"].nunique(),
                                         mask_formats=_formats(m, "Masks"),
                                         image_licences=_licences(m), **_external_facts(m))
        parts.append(f"## {TITLES[name]} (`{name}`)\n\n{summary}; "
                     f"{m['bytes'].sum() / 1e6:.1f} MB in all.\n\n{_table(src)}\n\n{problems}\n")
    parts.append("""## Citing the data

- Brain MRI: {cite}`chakrabarty2019brainmri`.
- COVID-19 X-rays: {cite}`cohen2020covid`; lung masks: {cite}`v7labs2020covid`.
- Normal and viral-pneumonia X-rays: {cite}`kermany2018`.
- External tumour MRIs: {cite}`nickparvar2021brainmri`, built in part from
  {cite}`cheng2015enhanced`.
- Healthy-volunteer T1 volumes: the IXI data set {cite}`ixi_dataset` (CC BY-SA 3.0).
- Hippocampus volumes: the Medical Segmentation Decathlon {cite}`simpson2019msd,antonelli2022msd`
  (CC BY-SA 4.0).
- AdrenalMNIST3D: MedMNIST v2 {cite}`yang2023medmnist` (CC BY 4.0).
""")
    return "\n".join(parts)


def main(argv) -> int:
    text = render()
    if "--check" in argv:
        if not OUT.exists() or OUT.read_text(encoding="utf-8") != text:
            print("book/data.md is out of date: run python scripts/make_datacard.py")
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
