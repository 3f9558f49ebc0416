"""The bundled model zoo: small networks trained on scikit-learn's handwritten digits.

Three architectures (``convnet``, ``resnet``, ``mlp``) and a double-width
``convnet_wide``, each trained from 5 seeds on the fixed digits split, plus
training checkpoints of ``convnet_s0``. The weights ship inside the package, so
``deeprsa.load_model("zoo:convnet_s0")`` works offline; ``weights="random"``
gives the entry's exact initial weights. Each entry has a card with its
training recipe, test accuracy, per-class accuracy and the predicted class of
every test stimulus.

Examples
--------
>>> import deeprsa
>>> from deeprsa import zoo
>>> model = deeprsa.load_model("zoo:resnet_s2")
>>> model.info["architecture"], model.seed, model.info["test_accuracy"] >= 0.95
('resnet', 2, True)
>>> (zoo.predict(model) == zoo.predictions("resnet_s2")).all()
np.True_
"""

from ._data import MEAN, PREPROCESSING, STD
from .architectures import ARCHITECTURES, build, count_parameters, list_architectures
from .catalog import (
    ENTRIES,
    _load_for_source,  # noqa: F401  (called by the zoo: model source)
    card,
    default_stimuli,
    list_entries,
    predictions,
)
from .train import RECIPE, evaluate, predict, train_zoo

__all__ = [
    "ARCHITECTURES",
    "ENTRIES",
    "MEAN",
    "PREPROCESSING",
    "RECIPE",
    "STD",
    "build",
    "card",
    "count_parameters",
    "default_stimuli",
    "evaluate",
    "list_architectures",
    "list_entries",
    "predict",
    "predictions",
    "train_zoo",
]
