"""utils.experiments.fit_final: one protocol trained on all images, as one self-contained
Keras model (quick settings, a few dozen images)."""
import numpy as np
import pytest

from utils import cnn, crossval, experiments as xp, transfer

N_IMAGES = 48  # the improved CNN's inner validation and full batches of 16 need a few dozen


@pytest.fixture(scope="module")
def sets():
    cache = {}

    def get(name):
        s = xp.protocol(name, quick=True)
        key = (s["size"], s["crop"], s.get("rgb", False))
        if key not in cache:
            cache[key] = xp.load_for(s, subset=N_IMAGES)
        return cache[key]
    return get


@pytest.fixture(scope="module")
def finals(sets):
    return {name: xp.fit_final(name, sets(name), seed=3, quick=True) for name in xp.MODELS}


@pytest.mark.parametrize("name", xp.MODELS)
def test_final_model_takes_the_protocols_images(name, sets, finals):
    data, fm = sets(name), finals[name]
    assert fm.name == name and fm.settings == xp.protocol(name, quick=True)
    assert fm.n_images == len(data.y) == N_IMAGES and fm.seed == 3 and fm.threshold == 0.5
    assert fm.n_train + fm.n_val == N_IMAGES   # every image either fitted on or validating
    if name != "improved":
        assert fm.n_val == 0 and fm.n_train == N_IMAGES
    assert tuple(fm.model.inputs[0].shape[1:]) == data.X.shape[1:]
    p = fm.predict(data.X[:10])
    assert p.shape == (10,) and np.all((p >= 0) & (p <= 1))
    assert set(np.unique(fm.classify(data.X[:10]))) <= {0, 1}


@pytest.mark.parametrize("name", xp.MODELS)
def test_predict_is_the_model_with_the_protocols_tta(name, sets, finals):
    X, fm = sets(name).X[:6], finals[name]
    assert fm.tta == {"paper": False, "improved": True, "transfer": False, "finetune": True}[name]
    once = np.asarray(fm.model(X, training=False)).ravel()
    mirror = np.asarray(fm.model(X[:, :, ::-1], training=False)).ravel()
    expected = (once + mirror) / 2 if fm.tta else once
    np.testing.assert_allclose(fm.predict(X), expected, atol=1e-6)


@pytest.mark.parametrize("name", xp.MODELS)
def test_saved_keras_file_predicts_the_same(name, sets, finals, tmp_path):
    import keras

    X, fm = sets(name).X[:6], finals[name]
    path = tmp_path / f"{name}.keras"
    fm.model.save(path)
    again = keras.models.load_model(path, custom_objects=cnn.custom_objects())
    np.testing.assert_allclose(crossval.predict(again, X, tta=fm.tta), fm.predict(X), atol=1e-5)


def test_improved_stops_on_a_grouped_inner_validation_part(finals):
    fm = finals["improved"]
    assert 0 < fm.n_val < fm.n_train < N_IMAGES and "val_loss" in fm.history
    assert fm.n_train + fm.n_val == fm.n_images


def test_fit_fold_is_the_fold_recipe_of_run_cv(sets):
    """A final model is trained as a CV fold is: same images and seed -> same predictions."""
    s = xp.protocol("improved", quick=True)
    data = sets("improved")
    train, test = crossval.fold_splits(data, 2, seed=0)[0]
    cv = crossval.run_cv(xp.builder("improved", data.X.shape[1:], **s["build"]), data,
                         folds=[(train, test)], seed=5, **s["fit"])
    fit = {k: v for k, v in s["fit"].items() if k != "tta"}
    model, _, fit_idx, val_idx = crossval.fit_fold(
        xp.builder("improved", data.X.shape[1:], **s["build"]), data.X, np.asarray(data.y),
        np.asarray(data.groups), train, 5, **fit)
    assert len(fit_idx) + len(val_idx) == len(train)
    np.testing.assert_allclose(crossval.predict(model, data.X[test], tta=True), cv.oof[test],
                               atol=1e-5)


@pytest.mark.parametrize("name", ["transfer", "finetune"])
def test_fit_transfer_is_the_fold_recipe_of_run_transfer_cv(name, sets):
    s = xp.protocol(name, quick=True)
    data = sets(name)
    train, test = crossval.fold_splits(data, 2, seed=0)[0]
    cv = crossval.run_transfer_cv(data, folds=[(train, test)], seed=7, verbose=False, **s["fit"])
    flat, _, tta = crossval.fit_transfer(data, train, seed=7, **s["fit"])
    model = transfer.with_preprocessing(flat, channels=data.X.shape[-1])
    np.testing.assert_allclose(crossval.predict(model, data.X[test], tta=tta), cv.oof[test],
                               atol=2e-4)


def test_with_preprocessing_puts_the_input_scaling_inside():
    flat = transfer.build_classifier(32, head="light", weights=None)
    X = np.random.default_rng(0).random((3, 32, 32, 1)).astype("float32")
    expected = np.asarray(flat(transfer.preprocess(X), training=False)).ravel()
    grey = transfer.with_preprocessing(flat, channels=1)
    np.testing.assert_allclose(np.asarray(grey(X, training=False)).ravel(), expected, atol=1e-5)
    rgb = transfer.with_preprocessing(flat, channels=3)
    np.testing.assert_allclose(np.asarray(rgb(np.repeat(X, 3, -1), training=False)).ravel(),
                               expected, atol=1e-5)
    assert all(a is not b for a in grey.layers for b in flat.layers)   # its own layers
    with pytest.raises(ValueError):
        transfer.with_preprocessing(flat, channels=2)


def test_transfer_predict_features_is_predict_from_cached_features(sets, finals):
    """The final transfer model on its images' cached frozen features gives its probabilities
    without running the backbone again; other protocols refuse."""
    data, fm = sets("transfer"), finals["transfer"]
    F = transfer.extract_features(data.X[:8], cache=False, verbose=False).values
    np.testing.assert_allclose(fm.predict_features(F), fm.predict(data.X[:8]), atol=1e-5)
    assert not np.allclose(fm.predict_features(F[::-1]), fm.predict(data.X[:8]), atol=1e-5)
    with pytest.raises(ValueError, match="transfer"):
        finals["paper"].predict_features(F)
