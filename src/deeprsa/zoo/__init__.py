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

from . import source as _source  # noqa: F401  (registers the zoo: model source)

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

# Where each public name lives; imported on first use, so that `import deeprsa` (which
# imports this package to register the zoo: source) does not import torch.
_HOMES = {"MEAN": "_data", "PREPROCESSING": "_data", "STD": "_data",
          "ARCHITECTURES": "architectures", "build": "architectures",
          "count_parameters": "architectures", "list_architectures": "architectures",
          "ENTRIES": "catalog", "card": "catalog", "default_stimuli": "catalog",
          "list_entries": "catalog", "predictions": "catalog",
          "RECIPE": "train", "evaluate": "train", "predict": "train", "train_zoo": "train"}


def __getattr__(name):
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(f"module 'deeprsa.zoo' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
