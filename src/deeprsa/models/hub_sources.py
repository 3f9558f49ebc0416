"""Model sources for today's vision models: Hugging Face transformers and OpenCLIP.

- ``hf:<repo-or-folder>``: a transformers vision model (ViT, DINOv2, BEiT,
  DeiT, Swin, ConvNeXt, ... through ``AutoModel``; CLIP and SigLIP as their
  vision towers), from a Hub repository id or a local folder holding its
  ``config.json``. Layers are the module tree (``encoder.layer.3``,
  ``layers.3``): the address book lists them, and the token reductions
  (``cls_token``, ``token_mean``) take the (batch, tokens, features) output of
  a transformer block.
- ``open_clip:<arch>[/<pretrained>]``: the image tower of an OpenCLIP model,
  e.g. ``open_clip:ViT-B-32/laion2b_s34b_b79k``.

Both are optional extras, imported when used (``pip install "deeprsa[hf]"``,
``pip install "deeprsa[open_clip]"``). Trained weights come from the local
cache (``HF_HOME``; OpenCLIP's URL downloads in ``~/.cache/clip``) when the
files are there, and are downloaded otherwise, unless ``HF_HUB_OFFLINE=1``;
when neither works, :class:`WeightsUnavailableError` says what to do.
Random weights need only the architecture: a config (Hub cache or a local
folder) for ``hf:``, the name for ``open_clip:``.
"""

from __future__ import annotations

import os
from pathlib import Path

from .._validation import suggest
from ._registry import SourceResult, WeightsUnavailableError, _load_state_dict_file, register_source
from .preprocessing import Preprocessing
from .sources import _NO_DOWNLOAD_HINT, _seeded, cached_hub_file

# transformers model types whose vision tower is the network (the rest load with AutoModel).
_VISION_TOWERS = {"clip": "CLIPVisionModel", "clip_vision_model": "CLIPVisionModel",
                  "siglip": "SiglipVisionModel", "siglip_vision_model": "SiglipVisionModel"}
_CLIP_MEAN, _CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
_PIL_INTERPOLATION = {0: "nearest", 2: "bilinear", 3: "bicubic", 1: "lanczos"}


def _offline() -> bool:
    flags = (os.environ.get(k, "") for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    return any(f.strip().lower() in ("1", "true", "yes", "on") for f in flags)


def _extra(module, extra):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"The {extra} source needs the {module} package: "
                          f'pip install "deeprsa[{extra}]".') from None


def _cached_then_online(load, what, spec):
    """``load(local_files_only=True)``, then (unless offline) ``load(local_files_only=False)``."""
    try:
        return load(local_files_only=True)
    except (OSError, ValueError) as cached_error:
        error = cached_error
    if not _offline():
        try:
            return load(local_files_only=False)
        except Exception as err:  # hub and network errors come in many types
            error = err
    home = os.environ.get("HF_HOME", "~/.cache/huggingface")
    raise WeightsUnavailableError(
        f"{spec}: {what} is not in the local cache (HF_HOME={home}) and could not be "
        f"downloaded ({type(error).__name__}: {str(error).splitlines()[0]}). Download it on "
        "a machine with internet access (huggingface-cli download REPO) into the same "
        "HF_HOME, or pass a local folder: hf:/path/to/folder (with config.json, and the "
        f"weights for weights='trained'). {_NO_DOWNLOAD_HINT}") from None


@register_source("hf")
def _hf(target, *, weights, seed):
    """Hugging Face transformers vision models: hf:facebook/dinov2-small, hf:path/to/folder."""
    transformers = _extra("transformers", "hf")
    spec = f"hf:{target}"
    if Path(target).expanduser().is_dir():
        target = str(Path(target).expanduser())
    config = _cached_then_online(
        lambda **kw: transformers.AutoConfig.from_pretrained(target, **kw), "its config.json",
        spec)
    cls_name = _VISION_TOWERS.get(config.model_type)
    cls = getattr(transformers, cls_name) if cls_name else transformers.AutoModel
    with _seeded(seed):
        if weights == "trained":
            module = _cached_then_online(
                lambda **kw: cls.from_pretrained(target, **kw), "its weights", spec)
        else:
            tower = config.vision_config if cls_name and hasattr(config, "vision_config") \
                else config
            module = cls(tower) if cls_name else cls.from_config(tower)
    if isinstance(weights, Path):
        _load_state_dict_file(module, weights)
    info = {"hf_model_type": config.model_type, "hf_class": type(module).__name__}
    return SourceResult(module, _hf_preprocessing(transformers, target, module.config), info)


def _hf_preprocessing(transformers, target, config) -> Preprocessing:
    """From the repository's image processor when it is there, else from the config."""
    size = getattr(config, "image_size", 224)
    size = tuple(size) if isinstance(size, (list, tuple)) else (int(size), int(size))
    clip = config.model_type.startswith(("clip", "siglip"))
    mean, std = (_CLIP_MEAN, _CLIP_STD) if clip else ((0.485, 0.456, 0.406),
                                                      (0.229, 0.224, 0.225))
    channels = int(getattr(config, "num_channels", 3))
    prep = {"channels": channels, "resize": size, "crop": size, "mean": mean, "std": std,
            "interpolation": "bicubic"}
    try:
        processor = transformers.AutoImageProcessor.from_pretrained(target,
                                                                    local_files_only=True)
    except Exception:  # no preprocessor_config.json: keep what the config says
        return Preprocessing(**prep)
    resize, crop = _processor_sizes(processor, size)
    mean = tuple(float(m) for m in getattr(processor, "image_mean", mean))
    std = tuple(float(s) for s in getattr(processor, "image_std", std))
    interpolation = _PIL_INTERPOLATION.get(int(getattr(processor, "resample", 3)), "bicubic")
    return Preprocessing(channels=channels, resize=resize, crop=crop, mean=mean, std=std,
                         interpolation=interpolation)


def _processor_sizes(processor, size):
    """``(resize, crop)`` from an image processor's ``size`` and ``crop_size``."""

    def pair(value):
        value = dict(value) if value is not None and not isinstance(value, int) else value
        if isinstance(value, int):
            return value, (value, value)
        if value and "height" in value:
            return (value["height"], value["width"]), (value["height"], value["width"])
        if value and "shortest_edge" in value:
            edge = value["shortest_edge"]
            return edge, (edge, edge)
        return None, None

    resize, square = pair(getattr(processor, "size", None))
    if getattr(processor, "do_center_crop", False):
        _, crop = pair(getattr(processor, "crop_size", None))
    else:
        crop = square if isinstance(resize, int) else resize
    return (resize if resize is not None else size), (crop if crop is not None else size)


@register_source("open_clip")
def _open_clip(target, *, weights, seed):
    """OpenCLIP image towers: open_clip:ViT-B-32/laion2b_s34b_b79k (arch/pretrained tag)."""
    open_clip = _extra("open_clip", "open_clip")
    arch, _, tag = target.partition("/")
    available = open_clip.list_models()
    if arch not in available:
        raise ValueError(f"OpenCLIP has no model {arch!r}.{suggest(arch, available)} See "
                         f"open_clip.list_models() for the {len(available)} available.")
    pretrained = None
    if weights == "trained":
        pretrained = _open_clip_weights(open_clip, arch, tag, f"open_clip:{target}")
    elif isinstance(weights, Path):
        pretrained = str(weights)  # an OpenCLIP checkpoint of the whole model
    with _seeded(seed), _quiet_open_clip():
        try:
            model = open_clip.create_model(arch, pretrained=pretrained)
        except (RuntimeError, KeyError) as err:
            raise ValueError(f"Could not load {pretrained!r} into open_clip:{arch}: "
                             f"{str(err).splitlines()[0]}") from None
    visual = model.visual
    cfg = dict(getattr(visual, "preprocess_cfg", None) or {})
    size = cfg.get("size", getattr(visual, "image_size", 224))
    size = tuple(size) if isinstance(size, (list, tuple)) else (int(size), int(size))
    prep = Preprocessing(channels=3, resize=size[0] if cfg.get("resize_mode") == "shortest"
                         else size, crop=size, mean=tuple(cfg.get("mean", _CLIP_MEAN)),
                         std=tuple(cfg.get("std", _CLIP_STD)),
                         interpolation=cfg.get("interpolation", "bicubic"))
    return SourceResult(visual, prep, {"open_clip_pretrained": tag or None})


def _open_clip_weights(open_clip, arch, tag, spec):
    """The local file of ``arch``'s pretrained ``tag``: the cache first, then a download."""
    tags = open_clip.list_pretrained_tags_by_model(arch)
    if not tag:
        raise WeightsUnavailableError(
            f"{spec} names no pretrained weights; add a tag, e.g. open_clip:{arch}/"
            f"{tags[0] if tags else 'TAG'} (open_clip.list_pretrained_tags_by_model({arch!r}) "
            f"lists {len(tags)}), or use weights='random'.")
    if tag not in tags:
        raise WeightsUnavailableError(f"OpenCLIP has no pretrained weights {tag!r} for "
                                      f"{arch}.{suggest(tag, tags)} Available: {tags}.")
    from open_clip import pretrained as registry

    cfg = registry.get_pretrained_cfg(arch, tag)
    cached = _open_clip_cached(cfg)
    if cached is not None:
        return cached
    if _offline():
        error = "HF_HUB_OFFLINE is set"
    else:
        try:
            return registry.download_pretrained(cfg)
        except Exception as err:  # hub and network errors come in many types
            error = f"{type(err).__name__}: {str(err).splitlines()[0]}"
    raise WeightsUnavailableError(
        f"The weights of {spec} are not in the local cache (HF_HOME="
        f"{os.environ.get('HF_HOME', '~/.cache/huggingface')}) and could not be downloaded "
        f"({error}). {_NO_DOWNLOAD_HINT}")


def _open_clip_cached(cfg):
    """The cached file of a pretrained config, or None (Hub cache or OpenCLIP's URL cache)."""
    hub = cfg.get("hf_hub") or ""
    if hub:
        repo = "/".join(hub.strip("/").split("/")[:2])
        filename = hub.strip("/")[len(repo) + 1:] or "open_clip_pytorch_model.bin"
        safe = ("open_clip_model.safetensors" if filename == "open_clip_pytorch_model.bin"
                else filename.rsplit(".", 1)[0] + ".safetensors")
        return cached_hub_file(repo, (safe, filename))  # OpenCLIP prefers the safetensors
    url = cfg.get("url") or ""
    if url:
        path = Path("~/.cache/clip").expanduser() / os.path.basename(url)
        return str(path) if path.is_file() else None
    return None


class _quiet_open_clip:
    """OpenCLIP logs 'initialized randomly' for random weights, which is what was asked for."""

    def __enter__(self):
        import logging

        self._root = logging.getLogger()
        self._level = self._root.level
        self._root.setLevel(max(self._level, logging.ERROR))

    def __exit__(self, *exc):
        self._root.setLevel(self._level)


def hf_trained_cached(target) -> bool:
    """Whether ``hf:target``'s trained weights load without a download (a folder, or cached)."""
    if Path(target).expanduser().is_dir():
        return True
    return cached_hub_file(target, ("config.json",)) is not None and cached_hub_file(
        target, ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")
    ) is not None


def open_clip_trained_cached(target) -> bool:
    """Whether ``open_clip:ARCH/TAG``'s trained weights are in a local cache."""
    arch, _, tag = target.partition("/")
    try:
        from open_clip import pretrained as registry

        cfg = registry.get_pretrained_cfg(arch, tag) if tag else None
    except Exception:  # no open_clip, or an unknown arch/tag: nothing cached
        return False
    return bool(cfg) and _open_clip_cached(cfg) is not None
