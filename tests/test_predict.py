"""Saving a model with its card, loading it back, the OOD check and ``python -m utils.predict``.

A tiny Keras model stands in for :func:`utils.experiments.fit_final`'s (same interface: name,
settings, model on the arrays of ``load_for``, threshold, seed, n_train).
"""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from utils import data, datasets, modelcard, predict, preprocessing

ROOT = Path(__file__).resolve().parents[1]
SIZE = 32


@dataclass
class TinyFinal:
    name: str
    settings: dict
    model: object
    threshold: float = 0.5
    seed: int = 0
    n_train: int = 0


def tiny_final(seed: int = 0, crop: bool = True, rgb: bool = True) -> TinyFinal:
    import keras

    keras.utils.set_random_seed(seed)
    ch = 3 if rgb else 1
    inp = keras.Input((SIZE, SIZE, ch))
    x = keras.layers.Rescaling(2.0, offset=-1.0)(inp)  # scaling inside the graph
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(1, activation="sigmoid", bias_initializer="zeros")(x)
    settings = {"model": "transfer", "size": SIZE, "crop": crop, "rgb": rgb, "folds": 2,
                "build": {}, "fit": {"epochs": 1}}
    return TinyFinal("transfer", settings, keras.Model(inp, out), 0.5, seed, 7)


def model_input(image, settings) -> np.ndarray:
    """What load_for gives for one raw image: crop to the head, PIL bilinear, [0, 1], channels."""
    im = preprocessing.crop_to_content(image) if settings["crop"] else image
    x = np.asarray(Image.fromarray(im).resize((SIZE, SIZE), Image.BILINEAR)) / 255.0
    x = x[None, ..., None].astype(np.float32)
    return np.repeat(x, 3, axis=-1) if settings["rgb"] else x


@pytest.fixture(scope="module")
def brain_images(mirror):
    return [data.read_image(p) for p in datasets.load_brain_mri(size=8).table["path"][:4]]


@pytest.fixture(scope="module")
def saved(tmp_path_factory, mirror):
    final = tiny_final()
    path = tmp_path_factory.mktemp("model") / "transfer.keras"
    predict.save_final(final, path, figures={"cross_validated": {"accuracy": [0.9, 0.8, 0.95]}},
                       operating_point={"chosen_on": "test", "target": "none"})
    return final, path


# ---- saving and loading --------------------------------------------------------------------
def test_round_trip_gives_identical_predictions(saved, brain_images):
    final, path = saved
    loaded, ood = predict.load_final(path, expect_name="transfer")
    assert ood is None
    fresh = modelcard.deployable(final.model, final.settings)
    a, b = modelcard.predict_images(fresh, brain_images), loaded.predict(brain_images)
    assert np.abs(a - b).max() < 1e-6
    # and the graph's preprocessing is the numpy one (up to uint8 rounding)
    ref = np.array([float(final.model(model_input(im, final.settings))[0, 0])
                    for im in brain_images])
    assert np.abs(ref - b).max() < 5e-3


def test_no_crop_protocol_resizes_like_pil(brain_images):
    final = tiny_final(seed=1, crop=False, rgb=False)
    deployed = modelcard.deployable(final.model, final.settings)
    ref = np.array([float(final.model(model_input(im, final.settings))[0, 0])
                    for im in brain_images])
    assert np.abs(modelcard.predict_images(deployed, brain_images) - ref).max() < 5e-3


def test_tta_in_the_graph_is_the_final_models_tta(brain_images):
    from utils import crossval

    final = tiny_final(seed=2)
    deployed = modelcard.deployable(final.model, final.settings, tta=True)
    X = np.concatenate([model_input(im, final.settings) for im in brain_images])
    ref = crossval.predict(final.model, X, tta=True)
    assert np.abs(modelcard.predict_images(deployed, brain_images) - ref).max() < 5e-3
    plain = crossval.predict(final.model, X, tta=False)
    assert np.abs(ref - plain).max() > 1e-4  # the mirror image changes something


def test_card_says_what_the_model_is(saved):
    _, path = saved
    card = json.loads(modelcard.card_path(path).read_text())
    assert card["name"] == "transfer" and card["threshold"] == 0.5 and card["seed"] == 0
    assert card["training_data"]["manifest_sha256"] == data.sha256_file(
        ROOT / "utils" / "manifests" / "brain_mri.csv")
    assert card["model_sha256"] == data.sha256_file(path)
    assert card["libraries"]["keras"] and card["book_commit"]
    assert card["protocol"]["size"] == SIZE and card["figures"]["cross_validated"]["accuracy"]
    assert any("Not a medical device" in x for x in card["known_limits"])
    assert any("Trained on 7 2-D MRI slices (views not annotated" in x for x in card["known_limits"])
    assert "head crop" in card["preprocessing_in_graph"][0]
    assert any("backbone input scaling" in x for x in card["preprocessing_in_graph"])
    assert "transfer" in modelcard.describe(card)


def test_a_cnn_card_has_no_backbone_line():
    settings = {"model": "improved", "size": 64, "crop": True, "fit": {}}
    card = modelcard.make_card("improved", settings, 0.5, n_train=10)
    assert not any("backbone" in x for x in card["preprocessing_in_graph"])
    assert any("resize to 64 px" in x for x in card["preprocessing_in_graph"])
    card = modelcard.make_card("finetune", dict(settings, model="finetune"), 0.5, n_train=10)
    assert any("backbone" in x for x in card["preprocessing_in_graph"])


def test_the_card_counts_the_training_data_it_is_given():
    import pandas as pd

    table = pd.DataFrame({"y": [1, 1, 1, 0, 0], "view": ["axial", "axial", "axial", "coronal", ""]})
    card = modelcard.make_card("transfer", {"model": "transfer", "size": 8}, 0.5,
                               training_table=table)
    assert card["training_data"]["n_images"] == 5
    assert card["training_data"]["tumour_share"] == pytest.approx(0.6)
    limit = next(x for x in card["known_limits"] if x.startswith("Trained on"))
    assert limit.startswith("Trained on 5 2-D MRI slices (mostly axial (3 of 4 annotated")
    assert "60%" in " ".join(card["known_limits"]) and "5 public" in card["intended_use"]
    # another table, other numbers; a count that contradicts the table is refused
    card = modelcard.make_card("transfer", {"model": "transfer", "size": 8}, 0.5,
                               training_table=table.iloc[3:])
    assert card["training_data"]["n_images"] == 2 and "coronal" in card["training_data"]["views"]
    assert "mostly" not in card["training_data"]["views"]
    with pytest.raises(ValueError, match="n_train"):
        modelcard.make_card("transfer", {"model": "transfer", "size": 8}, 0.5, n_train=253,
                            training_table=table)


def test_a_model_that_does_not_match_its_card_is_refused(saved, tmp_path):
    final, path = saved
    import shutil

    copy = tmp_path / "transfer.keras"
    shutil.copy(path, copy)
    shutil.copy(modelcard.card_path(path), modelcard.card_path(copy))
    modelcard.load(copy)  # an exact copy loads
    with pytest.raises(modelcard.ModelCardError, match="not 'finetune'"):
        modelcard.load(copy, expect_name="finetune")
    other = tiny_final(seed=3)
    modelcard.deployable(other.model, other.settings).save(copy)  # another model, same card
    with pytest.raises(modelcard.ModelCardError, match="sha256"):
        modelcard.load(copy)
    modelcard.card_path(copy).unlink()
    with pytest.raises(modelcard.ModelCardError, match="no model card"):
        modelcard.load(copy)


# ---- reading files -------------------------------------------------------------------------
def write_inputs(folder: Path, brain_images) -> dict:
    """A nested folder with a PNG, a JPEG, a 16-bit PNG, a DICOM, a corrupted PNG, a text file."""
    from pydicom.data import get_testdata_file

    (folder / "sub" / "deeper").mkdir(parents=True)
    paths = {"png": folder / "a.png", "jpeg": folder / "sub" / "b.jpg",
             "png16": folder / "sub" / "c16.png", "dicom": folder / "sub" / "deeper" / "ct.dcm",
             "corrupt": folder / "broken.png"}
    Image.fromarray(brain_images[0]).save(paths["png"])
    Image.fromarray(brain_images[1]).convert("RGB").save(paths["jpeg"], quality=95)
    Image.fromarray(brain_images[2].astype(np.uint16) * 257).save(paths["png16"])
    paths["dicom"].write_bytes(Path(get_testdata_file("CT_small.dcm")).read_bytes())
    paths["corrupt"].write_bytes(paths["png"].read_bytes()[:60])
    (folder / "notes.txt").write_text("not an image")
    return paths


def test_every_format_is_read_and_a_corrupted_file_gets_a_row(saved, brain_images, tmp_path):
    final, path = saved
    loaded, _ = predict.load_final(path)
    paths = write_inputs(tmp_path, brain_images)
    table = predict.predict_files(loaded, [tmp_path], progress=False)
    assert list(table.columns) == predict.COLUMNS
    assert sorted(table["path"]) == sorted(str(p) for p in paths.values())  # .txt left out
    rows = table.set_index("path")
    assert "cannot decode" in rows.loc[str(paths["corrupt"]), "error"]
    good = rows.drop(str(paths["corrupt"]))
    assert (good["error"] == "").all() and good["probability"].between(0, 1).all()
    assert set(good["decision"]) <= {predict.POSITIVE, predict.NEGATIVE}
    # the 16-bit PNG holds the PNG's image: same probability up to rounding
    assert abs(rows.loc[str(paths["png16"]), "probability"]
               - modelcard.predict_images(loaded.model, [brain_images[2]])[0]) < 1e-6


def test_empty_folder_and_no_images_are_clear_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(predict.NoImagesError, match="no image files"):
        predict.collect_files([tmp_path / "empty"])
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "a.txt").write_text("x")
    with pytest.raises(predict.NoImagesError):
        predict.collect_files([tmp_path / "text"])
    with pytest.raises(predict.NoImagesError):
        predict.collect_files([])
    assert predict.main(["--model", "transfer", "--weights", "x.keras",
                         str(tmp_path / "empty")]) == 2


# ---- the out-of-distribution check ---------------------------------------------------------
@pytest.fixture(scope="module")
def ood(mirror):
    table = datasets.load_brain_mri(size=8).table.iloc[::6]  # 43 of the 253
    images = [data.read_image(p) for p in table["path"]]
    return predict.OODCheck.fit(images, groups=table["near_group"], size=64)


def test_leave_group_out_scores_do_not_let_near_copies_answer():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(12, 16))
    F = np.concatenate([base, base + 1e-3 * rng.normal(size=base.shape)])  # 12 pairs of copies
    groups = np.tile(np.arange(12), 2)
    one_out = predict.leave_out_scores(F, k=1)
    group_out = predict.leave_out_scores(F, k=1, groups=groups)
    assert one_out.max() < 1e-4          # each image's copy is its nearest neighbour
    assert group_out.min() > 100 * one_out.max()
    # with one group per image it is the leave-one-out score
    assert np.allclose(predict.leave_out_scores(F, k=1, groups=np.arange(24)), one_out)
    with pytest.raises(ValueError, match="fewer than k"):
        predict.leave_out_scores(F, k=1, groups=np.zeros(24))


def test_ood_flags_a_photo_an_xray_blank_and_dark_images(ood, mirror):
    from skimage import data as skdata

    xray = data.read_image(datasets.chest_xray_table()["path"].iloc[0])
    cat = np.asarray(Image.fromarray(skdata.chelsea()).convert("L"))
    blank = np.zeros((200, 200), np.uint8)
    dark = (data.read_image(datasets.load_brain_mri(size=8).table["path"].iloc[1]) // 10)
    warn = ood.warnings([cat, xray, blank, dark])
    assert "unlike the training images" in warn[0] and "unlike the training images" in warn[1]
    assert "blank" in warn[2] and "very dark" in warn[3]


def test_ood_does_not_flag_a_near_copy_of_a_training_image(ood, mirror):
    import io

    table = datasets.load_brain_mri(size=8).table.iloc[::6]
    copies = []
    for p in table["path"].iloc[:3]:
        im = Image.fromarray(data.read_image(p))
        im = im.resize((im.width * 9 // 10, im.height * 9 // 10), Image.BILINEAR)
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=70)
        copies.append(np.asarray(Image.open(buf).convert("L")))
    assert ood.warnings(copies) == ["", "", ""]


def test_ood_threshold_is_the_training_quantile(ood):
    assert ood.threshold == pytest.approx(np.quantile(ood.train_scores, 0.99))
    assert (ood.train_scores > ood.threshold).mean() <= 0.03
    # the training scores are leave-group-out ones
    assert np.allclose(ood.train_scores, predict.leave_out_scores(ood.features, ood.k, ood.groups))
    assert "leave-group-out" in ood.describe()["threshold_rule"]


def test_ood_save_load_round_trip(ood, tmp_path):
    back = predict.OODCheck.load(ood.save(tmp_path / "o.npz"))
    assert back.threshold == ood.threshold and np.array_equal(back.features, ood.features)
    assert np.array_equal(back.groups, ood.groups)


# ---- the command line ----------------------------------------------------------------------
def test_command_line_end_to_end(ood, brain_images, tmp_path):
    import pandas as pd

    model_path = tmp_path / "m" / "transfer.keras"
    predict.save_final(tiny_final(), model_path, ood=ood)
    folder = tmp_path / "in"
    folder.mkdir()
    paths = write_inputs(folder, brain_images)
    out = tmp_path / "pred.csv"
    cmd = [sys.executable, "-m", "utils.predict", "--model", "transfer", "--weights",
           str(model_path), str(folder), "--out", str(out)]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "Not a medical device" in res.stdout
    table = pd.read_csv(out, keep_default_na=False)
    assert list(table.columns) == predict.COLUMNS and len(table) == len(paths)
    rows = table.set_index("path")
    assert rows.loc[str(paths["corrupt"]), "error"]
    assert "unlike the training images" in rows.loc[str(paths["dicom"]), "warning"]
    # the wrong model name is refused by the card
    res = subprocess.run(cmd[:4] + ["finetune"] + cmd[5:], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 2 and "refused" in res.stderr


def test_a_model_fitted_on_part_of_its_table_is_saved(tmp_path, mirror):
    """The improved CNN fits its weights on ~80 % of the images it is given and stops early on
    the rest: its card counts the images given (the table's rows) and keeps both parts."""
    import pandas as pd

    final = tiny_final()
    final.n_train = 5                      # weights fitted on 5 ...
    final.n_val, final.n_images = 2, 7     # ... early stopping on 2 of the 7 images given
    table = pd.DataFrame({"label": [1, 0, 1, 1, 0, 1, 0]})
    path = predict.save_final(final, tmp_path / "transfer.keras", training_table=table)
    card = modelcard.load(path).card
    assert card["training_data"]["n_images"] == 7
    assert card["training_split"] == {"images_given": 7, "weights_fitted_on": 5,
                                      "early_stopping_images": 2}
