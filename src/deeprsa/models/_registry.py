"""The model-source registry and :func:`load_model`, its one public verb."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .._validation import Registry, check_option
from .preprocessing import Preprocessing

__all__ = ["LoadedModel", "load_model", "list_sources", "register_source", "SOURCES",
           "hash_weights", "save_checkpoint", "WeightsUnavailableError"]

SOURCES = Registry("model source")
_WEIGHT_KINDS = ("trained", "random")


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights could not be fetched or found."""


def register_source(name: str):
    """Register ``func(name, *, weights, seed) -> SourceResult`` as a model source.

    ``weights`` is ``"trained"``, ``"random"`` or a :class:`pathlib.Path` to a
    state dict; the source builds the module accordingly. The docstring's
    first line describes the source in ``deeprsa sources``.
    """
    return SOURCES.register(name)


def list_sources() -> list[str]:
    """Names of the registered model sources, sorted."""
    return sorted(SOURCES)


@dataclass
class SourceResult:
    """What a source returns: the module, its preprocessing and extra info."""

    module: Any
    preprocessing: Preprocessing
    info: dict = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A network ready for extraction, with how it was made.

    Attributes
    ----------
    module : torch.nn.Module
        In eval mode.
    name : str
        Label used in the store and in every result table.
    spec : str
        The source spec, e.g. ``"torchvision:resnet18"``.
    weights : str
        ``"trained"``, ``"random"`` or the path of the loaded state dict.
    seed : int or None
        Seed of the random initialisation (random weights only).
    weights_hash : str
        Hash of every parameter and buffer: changed weights never reuse old
        activations in the store.
    preprocessing : Preprocessing
        Applied to each stimulus before the forward pass.
    info : Mapping
        Source-specific extras (e.g. the zoo's model card).
    """

    module: Any
    name: str
    spec: str
    weights: str
    seed: int | None
    weights_hash: str
    preprocessing: Preprocessing
    info: Any = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "info", MappingProxyType(dict(self.info)))

    @property
    def input_shape(self) -> tuple[int, int, int] | None:
        """(channels, height, width) the network is fed."""
        return self.preprocessing.input_shape

    def provenance(self) -> dict:
        """JSON-ready description for manifests and result tables."""
        return {"model": self.name, "spec": self.spec, "weights": self.weights,
                "seed": self.seed, "weights_hash": self.weights_hash,
                "preprocessing": self.preprocessing.to_dict()}

    def __repr__(self):
        return (f"LoadedModel(name={self.name!r}, spec={self.spec!r}, weights={self.weights!r}, "
                f"weights_hash={self.weights_hash[:12]!r})")


def load_model(model, *, weights="trained", seed=None, name=None, preprocessing=None,
               architecture=None) -> LoadedModel:
    """Load a network from a registered source, with trained, random or local weights.

    Parameters
    ----------
    model : str or torch.nn.Module or LoadedModel
        ``"<source>:<name>"``, e.g. ``"torchvision:resnet18"``,
        ``"timm:vit_small_patch16_224"``, ``"module:mypkg.nets:build"``,
        ``"checkpoint:path/to/model.pt"`` or ``"zoo:convnet_s0"`` (see
        :func:`list_sources`); or a module you built yourself.
    weights : {"trained", "random"} or path, default="trained"
        ``"trained"``: the source's pretrained weights (a clear error suggests
        alternatives where they cannot be fetched). ``"random"``: the seeded
        initialisation. A path: a state dict loaded with ``weights_only=True``
        into the architecture.
    seed : int, optional
        Seed of the random initialisation, for ``weights="random"``. Default 0;
        for the zoo, the entry's own training seed, so ``weights="random"`` is
        its untrained twin. Zoo entries also record their training seed as
        ``LoadedModel.seed`` with trained weights.
    name : str, optional
        Label of the model in the store and results. Defaults to the spec,
        with ``@random`` (and the seed) or ``@<file>`` appended for non-trained
        weights.
    preprocessing : Preprocessing, optional
        Overrides the source's preprocessing.
    architecture : str, optional
        For ``checkpoint:`` files that hold a bare state dict: the spec of
        the architecture to load it into, e.g. ``"torchvision:resnet18"``.

    Returns
    -------
    LoadedModel

    Raises
    ------
    ValueError
        If the source is unknown (with a did-you-mean) or the spec malformed.
    WeightsUnavailableError
        If trained weights cannot be fetched (no network, no cache).

    Examples
    --------
    >>> m = load_model("torchvision:alexnet", weights="random", seed=0)
    >>> m.name, m.input_shape
    ('torchvision:alexnet@random(seed=0)', (3, 224, 224))
    """
    if isinstance(model, LoadedModel):
        return model
    import torch

    if isinstance(model, torch.nn.Module):
        module, spec, result_info = model, f"module-object:{type(model).__name__}", {}
        if isinstance(weights, (str, Path)) and str(weights) not in _WEIGHT_KINDS:
            _load_state_dict_file(module, Path(weights))
            weights_desc = str(weights)
        else:
            weights_desc = "as given"
        prep = preprocessing or _guess_preprocessing(module)
        seed_used = None
        label = name or type(model).__name__
    else:
        if not isinstance(model, str) or ":" not in model:
            raise ValueError(
                f"model must be '<source>:<name>' (e.g. 'torchvision:resnet18') or a "
                f"torch.nn.Module; got {model!r}. Sources: {', '.join(list_sources())}."
            )
        source, _, target = model.partition(":")
        check_option("model source", source, SOURCES)
        if not target:
            raise ValueError(f"model {model!r} names no network after {source + ':'!r}.")
        if isinstance(weights, Path) or (isinstance(weights, str) and weights not in _WEIGHT_KINDS):
            weights = Path(weights)
            if not weights.exists():
                raise FileNotFoundError(
                    f"weights file {str(weights)!r} does not exist. Use weights='trained', "
                    "weights='random' or the path of a saved state dict (--weights on the "
                    "command line)."
                )
        elif not isinstance(weights, str):
            raise ValueError(f"weights must be 'trained', 'random' or a path; got {weights!r}.")
        kwargs = {"weights": weights, "seed": seed}
        if source == "checkpoint":
            kwargs["architecture"] = architecture
        result = SOURCES[source](target, **kwargs)
        module = result.module
        prep = preprocessing or result.preprocessing
        result_info = dict(result.info)
        seed_used = result_info.pop(
            "seed", (0 if seed is None else int(seed)) if weights == "random" else None)
        spec = model
        weights_desc = str(weights)
        label = name or _default_label(spec, weights, seed_used)
    module.eval()
    return LoadedModel(module=module, name=label, spec=spec, weights=weights_desc,
                       seed=seed_used, weights_hash=hash_weights(module),
                       preprocessing=prep, info=result_info)


def _default_label(spec, weights, seed):
    if weights == "trained":
        return spec
    if weights == "random":
        return f"{spec}@random(seed={seed})"
    return f"{spec}@{Path(weights).name}"


def hash_weights(module) -> str:
    """Blake2b hash of every parameter and buffer (names, dtypes, shapes, values)."""
    h = hashlib.blake2b(digest_size=16)
    for key, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.view(-1).view(dtype=_byte_dtype()).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _byte_dtype():
    import torch

    return torch.uint8


def _load_state_dict_file(module, path: Path):
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"weights file {str(path)!r} does not exist.") from None
    except Exception as err:  # pickle errors, zip errors, refused globals
        raise ValueError(
            f"Could not read a state dict from {str(path)!r}: {err}. deeprsa loads "
            "checkpoints with weights_only=True; save them with "
            "torch.save(model.state_dict(), path)."
        ) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    try:
        module.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(
            f"The state dict in {str(path)!r} does not fit this architecture: "
            f"{str(err).splitlines()[0]} ..."
        ) from None


def save_checkpoint(module, path, *, architecture: str, **info) -> Path:
    """Save ``module``'s weights with the spec of its architecture.

    The file loads back with ``load_model("checkpoint:<path>")``, using
    ``torch.load(weights_only=True)``; ``info`` must be JSON-like (numbers,
    strings, lists, dicts).
    """
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"architecture": architecture, "state_dict": module.state_dict(),
                "info": info}, path)
    return path


def _guess_preprocessing(module) -> Preprocessing:
    """Preprocessing for a bare module: channels from the first conv, no resize."""
    import torch

    for sub in module.modules():
        if isinstance(sub, torch.nn.Conv2d):
            c = sub.in_channels
            return Preprocessing(channels=c, resize=None, crop=None,
                                 mean=(0.0,) * c, std=(1.0,) * c)
    return Preprocessing(channels=1, resize=None, crop=None, mean=(0.0,), std=(1.0,))
