"""The built-in model sources: torchvision, timm, module and checkpoint.

The bundled zoo registers its own ``zoo:`` source (:mod:`deeprsa.zoo.source`).
"""

from __future__ import annotations

import importlib
from contextlib import contextmanager
from pathlib import Path

from .._validation import suggest
from ._registry import (
    SourceResult,
    WeightsUnavailableError,
    _guess_preprocessing,
    _load_state_dict_file,
    register_source,
)
from .preprocessing import IMAGENET_DEFAULT, Preprocessing

_NO_DOWNLOAD_HINT = (
    "Use weights='random' (--weights random) for the seeded untrained network, or download "
    "the weights on a machine with internet access and pass the file with "
    "weights='path/to/state_dict.pt' (--weights PATH)."
)


@contextmanager
def _seeded(seed):
    """Run the block with torch's global generator seeded, restoring it afterwards."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0 if seed is None else int(seed))
        yield


@register_source("torchvision")
def _torchvision(name, *, weights, seed):
    """torchvision.models by name, e.g. torchvision:resnet18 (weights enum DEFAULT when trained)."""
    import torchvision

    available = torchvision.models.list_models()
    if name not in available:
        raise ValueError(
            f"torchvision has no model {name!r}.{suggest(name, available)} "
            f"See torchvision.models.list_models() for the {len(available)} available."
        )
    try:
        enum = torchvision.models.get_model_weights(name)
        default = enum.DEFAULT
    except (ValueError, AttributeError, KeyError):
        enum = default = None
    prep = (Preprocessing.from_torchvision_transforms(default.transforms())
            if default is not None else IMAGENET_DEFAULT)
    with _seeded(seed):
        if weights == "trained":
            if default is None:
                raise WeightsUnavailableError(
                    f"torchvision:{name} has no pretrained weights. {_NO_DOWNLOAD_HINT}")
            try:
                module = torchvision.models.get_model(name, weights=default)
            except (OSError, RuntimeError) as err:  # URLError is an OSError
                raise WeightsUnavailableError(
                    f"Could not fetch the pretrained weights {default} for torchvision:{name} "
                    f"({type(err).__name__}: {err}). {_NO_DOWNLOAD_HINT}"
                ) from None
            return SourceResult(module, prep, {"weights_enum": str(default)})
        module = torchvision.models.get_model(name, weights=None)
    if isinstance(weights, Path):
        _load_state_dict_file(module, weights)
    return SourceResult(module, prep)


@register_source("timm")
def _timm(name, *, weights, seed):
    """timm.create_model by name, e.g. timm:resnet18 (optional extra: pip install "deeprsa[timm]")."""
    try:
        import timm
    except ImportError:
        raise ImportError(
            'The timm source needs the timm package: pip install "deeprsa[timm]".') from None
    available = timm.list_models()
    if name not in available:
        raise ValueError(f"timm has no model {name!r}.{suggest(name, available)}")
    with _seeded(seed):
        if weights == "trained":
            try:
                module = timm.create_model(name, pretrained=True)
            except Exception as err:  # hub errors come in many types
                raise WeightsUnavailableError(
                    f"Could not fetch the pretrained weights for timm:{name} "
                    f"({type(err).__name__}: {err}). {_NO_DOWNLOAD_HINT}"
                ) from None
        else:
            module = timm.create_model(name, pretrained=False)
    if isinstance(weights, Path):
        _load_state_dict_file(module, weights)
    cfg = timm.data.resolve_data_config({}, model=module)
    c, h, w = cfg["input_size"]
    resize = int(round(h / cfg.get("crop_pct", 1.0)))
    prep = Preprocessing(channels=c, resize=resize, crop=(h, w), mean=tuple(cfg["mean"]),
                         std=tuple(cfg["std"]), interpolation=cfg.get("interpolation", "bilinear"))
    return SourceResult(module, prep)


def _import_callable(target):
    mod_name, _, attr = target.partition(":")
    if not mod_name or not attr:
        raise ValueError(
            f"module source needs 'package.module:callable', got {target!r}, e.g. "
            "'module:mypkg.nets:build_net'.")
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as err:
        raise ImportError(f"Cannot import {mod_name!r} for model 'module:{target}': {err}.") from None
    obj = mod
    for part in attr.split("."):
        if not hasattr(obj, part):
            names = [n for n in dir(obj) if not n.startswith("_")]
            raise ValueError(
                f"{mod_name!r} has no attribute {attr!r}.{suggest(part, names)}")
        obj = getattr(obj, part)
    return obj


@register_source("module")
def _module(target, *, weights, seed):
    """Your own network: module:package.module:callable, called with no arguments."""
    import torch

    build = _import_callable(target)
    with _seeded(seed):
        module = build()
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module:{target} returned {type(module).__name__}, not a torch.nn.Module.")
    if isinstance(weights, Path):
        _load_state_dict_file(module, weights)
    prep = getattr(module, "deeprsa_preprocessing", None) or _guess_preprocessing(module)
    return SourceResult(module, prep)


@register_source("checkpoint")
def _checkpoint(target, *, weights, seed, architecture=None):
    """A saved state dict: checkpoint:path.pt (from save_checkpoint, or with architecture=)."""
    import torch

    from ._registry import load_model

    path = Path(target)
    if not path.exists():
        raise FileNotFoundError(f"Checkpoint {str(path)!r} does not exist.")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(
            f"Could not read checkpoint {str(path)!r} with weights_only=True: {err}. Save it "
            "with deeprsa.models.save_checkpoint or torch.save(model.state_dict(), path)."
        ) from None
    arch = architecture or (blob.get("architecture") if isinstance(blob, dict) else None)
    if arch is None:
        raise ValueError(
            f"Checkpoint {str(path)!r} holds a bare state dict and does not name its "
            "architecture. Pass architecture='torchvision:resnet18' (or the right spec), or "
            "save it with deeprsa.models.save_checkpoint."
        )
    if str(arch).startswith("checkpoint:"):
        raise ValueError(f"Checkpoint {str(path)!r} names another checkpoint as architecture.")
    base = load_model(arch, weights="random", seed=seed)
    module = base.module
    state = blob["state_dict"] if isinstance(blob, dict) and "state_dict" in blob else blob
    try:
        module.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(
            f"Checkpoint {str(path)!r} does not fit architecture {arch!r}: "
            f"{str(err).splitlines()[0]} ..."
        ) from None
    if weights == "random":
        raise ValueError(
            f"weights='random' makes no sense for a checkpoint; load {arch!r} with "
            "weights='random' instead.")
    info = dict(blob.get("info", {})) if isinstance(blob, dict) else {}
    info["architecture"] = arch
    return SourceResult(module, base.preprocessing, info)


# ----------------------------------------------------------------------------- local caches


def _torch_hub_cached(url) -> bool:
    import os
    from urllib.parse import urlparse

    import torch

    name = os.path.basename(urlparse(url).path)
    return bool(name) and os.path.exists(os.path.join(torch.hub.get_dir(), "checkpoints", name))


def _torchvision_cached(name) -> bool:
    import torchvision

    try:
        return _torch_hub_cached(torchvision.models.get_model_weights(name).DEFAULT.url)
    except (ValueError, AttributeError, KeyError):
        return False


def cached_hub_file(repo, names) -> str | None:
    """The local path of the first of ``names`` in ``repo``'s Hugging Face cache, or None."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # no hub client: nothing can be in its cache
        return None
    for name in names:
        found = try_to_load_from_cache(repo, name)
        if isinstance(found, str):
            return found
    return None


def _timm_cached(name) -> bool:
    try:
        import timm

        cfg = timm.models.get_pretrained_cfg(name)
    except Exception:  # no timm, or no pretrained config: nothing cached
        return False
    if cfg is None:
        return False
    if getattr(cfg, "hf_hub_id", None) and cached_hub_file(
            cfg.hf_hub_id.split("@")[0],
            ("model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin")):
        return True
    return bool(getattr(cfg, "url", None)) and _torch_hub_cached(cfg.url)


# Sources whose trained weights the library downloads (into TORCH_HOME or HF_HOME), and how to
# tell whether they are in its local cache already. Every other source needs no download.
DOWNLOADING_SOURCES = {"torchvision": lambda name: _torchvision_cached(name),
                       "timm": lambda name: _timm_cached(name),
                       "hf": lambda name: _hub("hf_trained_cached")(name),
                       "open_clip": lambda name: _hub("open_clip_trained_cached")(name)}


def _hub(name):
    from . import hub_sources

    return getattr(hub_sources, name)


def trained_weights_cached(spec: str) -> bool:
    """Whether ``weights="trained"`` for model ``spec`` loads without a download.

    True for sources that need no download (the zoo's bundled weights, your
    own modules and checkpoints) and for torchvision, timm, hf and open_clip
    models whose weights are in the libraries' local caches (``TORCH_HOME``,
    ``HF_HOME``) or, for hf, in a local folder.
    """
    source, _, name = str(spec).partition(":")
    check = DOWNLOADING_SOURCES.get(source)
    return True if check is None else bool(check(name))
