"""Derive the project's committed manifests (utils/manifests/*.csv) from a data mirror.

Usage:  python scripts/make_manifests.py [MIRROR]   (default: ../shared/data)

The mirror's own manifest.csv files are the authority for hashes and provenance.  This script
keeps the columns the book needs, renames them consistently and adds the pinned download URL
(a raw file of the recorded public GitHub repository at the recorded commit).  The chest X-ray
annotation files are not listed in the mirror's manifest; they are added here with hashes computed
from the mirror and the path they have in the ieee8023 repository.

The two external-test sets keep ``fetch_repo`` (the repository the pinned URL points at) and their
own columns: ``brain_mri_external`` the source's class (``source_class``: glioma, meningioma,
pituitary, notumor); ``ixi_t1`` the ``subject``, ``site`` and ``label`` of each volume and the
subject's ``age`` and ``sex`` from the mirror's ``ixi_t1/participants.csv`` (empty for the two
subjects it lacks).  That table is not a file of the manifest: it is a subset of the repository's
table (the rows of these 80 subjects), so its bytes differ from the pinned file's and a download
could never verify; its content lives in the manifest instead.

The two 3-D sets keep their mirror's columns too: ``hippocampus`` the ``kind`` (image, label,
dicom), the ``case`` (for a DICOM file: its series) and ``paired`` (yes where the case has both
an image and a label); ``adrenal_mnist3d`` the official ``md5`` that the ``medmnist`` package lists.
"""
from __future__ import annotations

import csv
import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from utils.data import RAW_URL, MANIFEST_DIR  # noqa: E402

COMMON = ["file", "sha256", "bytes", "licence", "source_repo", "commit", "source_path", "url"]
EXTRA = {
    "brain_mri": ["label"],
    "brain_mri_masks": ["image"],
    "chest_xray": ["kind", "cls", "patientid", "view", "finding", "width", "height", "mode",
                   "paired_image", "note"],
    "brain_mri_external": ["label", "source_class", "fetch_repo"],
    "ixi_t1": ["subject", "site", "label", "age", "sex", "fetch_repo"],
    "hippocampus": ["kind", "case", "paired", "fetch_repo"],
    "adrenal_mnist3d": ["md5", "fetch_repo"],
}
# ieee8023/covid-chestxray-dataset annotation files (same fork and commit as the covid images)
ANNOTATIONS = {
    "annotations/ieee8023_metadata.csv": "metadata.csv",
    "annotations/ieee8023_covid-severity-scores.csv": "annotations/covid-severity-scores.csv",
    "annotations/ieee8023_lung_bounding_boxes.json":
        "annotations/imageannotation_ai_lung_bounding_boxes.json",
}


def url_for(fetch_repo: str, commit: str, path: str) -> str:
    from urllib.parse import quote

    return RAW_URL.format(repo=fetch_repo, commit=commit, path=quote(path))


def main(mirror: Path) -> None:
    MANIFEST_DIR.mkdir(parents=True, exist_ok=True)
    for name, extra in EXTRA.items():
        rows = list(csv.DictReader(open(mirror / name / "manifest.csv", newline="", encoding="utf-8")))
        out = []
        for r in rows:
            row = {
                "file": r["file"], "sha256": r["sha256"], "bytes": r["bytes"],
                "licence": r["license"], "source_repo": r["source_repo"], "commit": r["commit"],
                "source_path": r["source_path"],
                "url": url_for(r["fetch_repo"], r["commit"], r["source_path"]),
            }
            if name == "brain_mri":
                row["label"] = r["label"]
            elif name == "brain_mri_masks":
                row["image"] = ""  # filled below: the yes/ image with the same stem
            elif name in ("brain_mri_external", "ixi_t1", "hippocampus", "adrenal_mnist3d"):
                row.update({k: r.get(k, "") for k in extra})
            else:
                row["kind"] = "mask" if r["file"].startswith("lung_masks") else "image"
                for k in extra[1:]:
                    row[k] = r.get(k, "")
            out.append(row)
        if name == "brain_mri_masks":
            yes = [r["file"] for r in
                   csv.DictReader(open(mirror / "brain_mri" / "manifest.csv", encoding="utf-8"))
                   if r["label"] == "yes"]
            by_name = {Path(f).name.lower(): f for f in yes}
            by_stem = {}
            for f in yes:
                by_stem.setdefault(Path(f).stem.lower(), []).append(f)
            for row in out:  # same name ignoring case; else the single image with that stem
                mask_name = Path(row["file"]).name.lower()
                stem = by_stem.get(Path(mask_name).stem, [])
                row["image"] = by_name.get(mask_name) or (stem[0] if len(stem) == 1 else "")
        if name == "chest_xray":
            covid = next(r for r in rows if r["file"].startswith("covid/"))
            for local, source in ANNOTATIONS.items():
                data = (mirror / name / local).read_bytes()
                out.append({
                    "file": local, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
                    "licence": "as stated in the file / ieee8023 repository",
                    "source_repo": "ieee8023/covid-chestxray-dataset", "commit": covid["commit"],
                    "source_path": source,
                    "url": url_for(covid["fetch_repo"], covid["commit"], source),
                    "kind": "annotation", "cls": "", "patientid": "", "view": "", "finding": "",
                    "width": "", "height": "", "mode": "", "paired_image": "", "note": "",
                })
        if name == "ixi_t1":  # age and sex from the mirror's participants table
            table = csv.DictReader(open(mirror / name / "participants.csv", newline="",
                                        encoding="utf-8"))
            people = {p["MRID"]: p for p in table}
            for row in out:
                person = people.get(row["subject"], {})
                row["age"], row["sex"] = person.get("Age", ""), person.get("Sex", "")
        with open(MANIFEST_DIR / f"{name}.csv", "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=COMMON + extra)
            writer.writeheader()
            writer.writerows(out)
        print(f"{name}: {len(out)} files -> {MANIFEST_DIR / (name + '.csv')}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data")
