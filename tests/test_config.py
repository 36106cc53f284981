"""Tests of the run configuration (utils.config): mode, by_mode, seeding, environment."""
from __future__ import annotations

import random

import numpy as np
import pytest

from utils import config


def test_mode_default_is_full(monkeypatch):
    monkeypatch.delenv("DLBI_MODE", raising=False)
    assert config.mode() == "full" and not config.is_quick()
    monkeypatch.setenv("DLBI_MODE", "")
    assert config.mode() == "full"


@pytest.mark.parametrize("value", ["quick", "QUICK", " quick\n"])
def test_mode_quick(monkeypatch, value):
    monkeypatch.setenv("DLBI_MODE", value)
    assert config.mode() == "quick" and config.is_quick()


def test_mode_invalid(monkeypatch):
    monkeypatch.setenv("DLBI_MODE", "fast")
    with pytest.raises(ValueError) as info:
        config.mode()
    msg = str(info.value)
    assert "DLBI_MODE" in msg and "'fast'" in msg and "quick" in msg and "full" in msg


def test_by_mode(monkeypatch):
    monkeypatch.setenv("DLBI_MODE", "quick")
    assert config.by_mode(quick=2, full=10) == 2
    monkeypatch.setenv("DLBI_MODE", "full")
    assert config.by_mode(quick=2, full=10) == 10
    monkeypatch.setenv("DLBI_MODE", "nope")
    with pytest.raises(ValueError):
        config.by_mode(1, 2)


def test_default_seed(monkeypatch):
    monkeypatch.delenv("DLBI_SEED", raising=False)
    assert config.default_seed() == 42
    monkeypatch.setenv("DLBI_SEED", "7")
    assert config.default_seed() == 7


def test_seed_everything_repeats_draws(monkeypatch):
    monkeypatch.delenv("DLBI_SEED", raising=False)
    monkeypatch.setenv("PYTHONHASHSEED", "0")  # restored afterwards (seed_everything sets it)

    def draws(seed):
        used = config.seed_everything(seed)
        return used, np.random.rand(5).tolist(), random.random()

    assert draws(123) == draws(123)
    assert draws(123)[1] != draws(124)[1]
    assert draws(None)[0] == 42


def test_environment_report_keys(monkeypatch, capsys):
    # the one test that lets TensorFlow be imported (environment() asks it for the GPU)
    monkeypatch.setenv("DLBI_MODE", "quick")
    monkeypatch.delenv("DLBI_DATA_MIRROR", raising=False)
    info = config.environment(seed=5)
    for key in ("mode", "seed", "python", "tensorflow", "numpy", "accelerator",
                "data_source", "platform"):
        assert key in info, key
    assert info["mode"] == "quick" and info["seed"] == 5
    assert info["python"].count(".") == 2
    printed = config.environment_report(seed=5)
    assert printed["mode"] == "quick"
    assert "tensorflow" in capsys.readouterr().out


def test_accelerator_names_the_gpu_tensorflow_sees(monkeypatch):
    """On Colab's GPU runtime TensorFlow lists a GPU; the report must say so (and the chapters
    then run on it without any code change: Keras places work on the GPU by itself)."""
    import tensorflow as tf

    class FakeGPU:
        name = "/physical_device:GPU:0"

    monkeypatch.setattr(tf.config, "list_physical_devices",
                        lambda kind=None: [FakeGPU()] if kind == "GPU" else [])
    monkeypatch.setattr(tf.config.experimental, "get_device_details",
                        lambda dev: {"device_name": "Tesla T4"})
    assert config.accelerator() == "GPU: Tesla T4"
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    assert config.accelerator() == "CPU only"
