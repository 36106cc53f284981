"""Helper library of the course book *Deep Learning for Biomedical Imaging*.

Every chapter starts with::

    import utils
    utils.setup()          # TF flags, seeds, plot style, environment report

and then uses the data layer (``utils.data``, ``utils.datasets``), the duplicate audit
(``utils.dedup``), leakage-free splits (``utils.splits``) and plotting helpers (``utils.plots``).
Heavy libraries (TensorFlow) are imported lazily, by the modules that need them.

The modules form layers, from the base (configuration, plots, result files) through data,
preprocessing, models, evaluation and explanation up to the chapters' protocols; a module
imports only from its own layer or the ones below.  :mod:`utils.layers` has the table.
"""
from __future__ import annotations

from . import config

# TensorFlow reads its flags when it is first imported: set them before any chapter imports it.
config.configure_tensorflow()

from . import data, datasets, dedup, plots, splits  # noqa: E402
from .config import (by_mode, environment_report, is_quick, mode,  # noqa: E402
                     seed_everything, setup)
from .data import (DataError, ImageDecodeError, IntegrityError,  # noqa: E402
                   MissingDataError, read_image)

__all__ = [
    "config", "data", "datasets", "dedup", "plots", "splits",
    "by_mode", "environment_report", "is_quick", "mode", "seed_everything", "setup",
    "DataError", "ImageDecodeError", "IntegrityError", "MissingDataError", "read_image",
]
__version__ = "0.1.0"
