"""The hf: and open_clip: sources on small random-weight architectures built from configs.

transformers is not in the dev extra (129 MB and some 20 dependencies): its tests skip
without it (pytest.importorskip), and are marked slow where it is installed, since importing
it takes about 7 s. open_clip_torch is in the dev extra (its tests are slow for the same
reason), and OpenCLIP models are built from a tiny model config registered for the test. Nothing here touches the network: trained
weights come from local folders or a missing cache, with HF_HUB_OFFLINE set.
"""

import json
import re

import numpy as np
import pytest
from numpy.testing import assert_allclose

from deeprsa import Store, digits, extract, list_layers, load_model
from deeprsa.models import WeightsUnavailableError
from deeprsa.models.sources import trained_weights_cached

slow_import = pytest.mark.slow  # importing transformers or open_clip takes about 7 s
TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "image_size": 32,
        "patch_size": 8}


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))


@pytest.fixture(scope="module")
def stimuli():
    return digits(split="test").sample(1, seed=0)  # 10 stimuli, one per digit


def _hf_config(kind):
    transformers = pytest.importorskip("transformers")
    if kind == "vit":
        return transformers.ViTConfig(intermediate_size=64, **TINY)
    if kind == "dinov2":
        return transformers.Dinov2Config(mlp_ratio=2, **TINY)
    return transformers.CLIPConfig(  # the vision tower is the network
        vision_config={"intermediate_size": 64, **TINY},
        text_config={"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                     "intermediate_size": 64, "vocab_size": 100, "bos_token_id": 0,
                     "eos_token_id": 1, "pad_token_id": 1},
        projection_dim=16)


BLOCKS = {"vit": "layers.*", "dinov2": "encoder.layer.*", "clip": "encoder.layers.*"}
CLASSES = {"vit": "ViTModel", "dinov2": "Dinov2Model", "clip": "CLIPVisionModel"}


@slow_import
@pytest.mark.parametrize("kind", ["vit", "dinov2", "clip"])
def test_hf_models_list_layers_and_extract_tokens(tmp_path, stimuli, kind):
    folder = tmp_path / kind
    _hf_config(kind).save_pretrained(folder)
    model = load_model(f"hf:{folder}", weights="random", seed=0)
    assert model.info["hf_class"] == CLASSES[kind]
    assert model.input_shape == (3, 32, 32)
    table = list_layers(model)
    blocks = [name for name in table.layer if re.fullmatch(BLOCKS[kind].replace("*", r"\d+"),
                                                           name)]
    assert len(blocks) == 2
    shapes = table.set_index("layer").loc[blocks, "output_shape"].tolist()
    assert shapes == [(17, 32), (17, 32)]  # (tokens, features): 16 patches + the class token
    store = Store(tmp_path / "store")
    for reduction in ("cls_token", "token_mean"):
        out = extract(model, stimuli, [BLOCKS[kind]], store, reduction=reduction,
                      progress=False)
        assert list(out.layer) == blocks
        for key in out.key:
            assert store.array(key).shape == (10, 32)
    again = load_model(f"hf:{folder}", weights="random", seed=0)
    assert again.weights_hash == model.weights_hash  # seeded: the same random network


@slow_import
def test_hf_trained_weights_from_a_local_folder(tmp_path):
    transformers = pytest.importorskip("transformers")
    import torch

    torch.manual_seed(3)
    net = transformers.ViTModel(_hf_config("vit"))
    net.save_pretrained(tmp_path / "vit")
    model = load_model(f"hf:{tmp_path / 'vit'}", weights="trained")
    for name, tensor in net.state_dict().items():
        assert torch.equal(model.module.state_dict()[name], tensor), name


def _hub_cache(tmp_path, repo):
    """An empty Hugging Face cache snapshot folder for ``repo`` (as huggingface_hub lays it)."""
    folder = tmp_path / "hub" / ("models--" + repo.replace("/", "--"))
    commit = "0" * 40
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(commit)
    return folder / "snapshots" / commit


@slow_import
def test_hf_trained_weights_from_the_hub_cache(tmp_path, monkeypatch):
    # Offline, a repository id loads from the local cache when its files are there.
    transformers = pytest.importorskip("transformers")
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    net = transformers.Dinov2Model(_hf_config("dinov2"))
    assert not trained_weights_cached("hf:someone/tiny-dinov2")  # `deeprsa extract` asks
    net.save_pretrained(_hub_cache(tmp_path, "someone/tiny-dinov2"))
    assert trained_weights_cached("hf:someone/tiny-dinov2")  # no download: used by default
    model = load_model("hf:someone/tiny-dinov2", weights="trained")
    assert model.info["hf_class"] == "Dinov2Model"
    assert model.weights_hash == load_model(net).weights_hash


@slow_import
def test_hf_preprocessing_follows_the_image_processor(tmp_path):
    transformers = pytest.importorskip("transformers")
    _hf_config("vit").save_pretrained(tmp_path / "vit")
    transformers.ViTImageProcessor(size={"height": 48, "width": 48}, image_mean=[0.5] * 3,
                                   image_std=[0.25] * 3, resample=2).save_pretrained(
        tmp_path / "vit")
    prep = load_model(f"hf:{tmp_path / 'vit'}", weights="random").preprocessing
    assert (prep.resize, prep.crop, prep.mean, prep.std, prep.interpolation) == (
        (48, 48), (48, 48), (0.5,) * 3, (0.25,) * 3, "bilinear")


@slow_import
@pytest.mark.parametrize("weights", ["trained", "random"])
def test_hf_repo_missing_from_the_cache_offline(weights):
    pytest.importorskip("transformers")
    msg = "hf:org/not-cached: its config.json is not in the local cache (HF_HOME="
    with pytest.raises(WeightsUnavailableError, match=re.escape(msg)):
        load_model("hf:org/not-cached", weights=weights)


def test_hf_is_optional(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(ImportError, match=re.escape('pip install "deeprsa[hf]"')):
        load_model("hf:facebook/dinov2-small", weights="random")


# ============================================================================ OpenCLIP


@pytest.fixture
def tiny_open_clip(tmp_path):
    open_clip = pytest.importorskip("open_clip")
    from open_clip import factory

    name = "deeprsa-test-tiny"
    config = {"embed_dim": 16,
              "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "patch_size": 8,
                             "head_width": 16},
              "text_cfg": {"context_length": 8, "vocab_size": 100, "width": 32, "heads": 2,
                           "layers": 1}}
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / f"{name}.json").write_text(json.dumps(config))
    open_clip.add_model_config(tmp_path / "configs")
    yield name
    factory._MODEL_CONFIGS.pop(name, None)


@slow_import
def test_open_clip_lists_layers_and_extracts(tmp_path, stimuli, tiny_open_clip):
    model = load_model(f"open_clip:{tiny_open_clip}", weights="random", seed=0)
    assert model.input_shape == (3, 32, 32)
    table = list_layers(model).set_index("layer")
    assert table.loc["transformer.resblocks.1", "output_shape"] == (17, 32)  # batch first
    out = extract(model, stimuli, ["transformer.resblocks.*"], Store(tmp_path / "s"),
                  reduction="cls_token", progress=False)
    assert list(out.layer) == ["transformer.resblocks.0", "transformer.resblocks.1"]
    whole = extract(model, stimuli, ["ln_post"], Store(tmp_path / "s"), progress=False)
    assert Store(tmp_path / "s").array(whole.key.iloc[0]).shape == (10, 17 * 32)


@slow_import
def test_open_clip_checkpoint_file_and_missing_weights(tmp_path, tiny_open_clip):
    import open_clip
    import torch

    torch.manual_seed(1)
    full = open_clip.create_model(tiny_open_clip)
    torch.save(full.state_dict(), tmp_path / "tiny.pt")
    model = load_model(f"open_clip:{tiny_open_clip}", weights=tmp_path / "tiny.pt")
    for name, tensor in full.visual.state_dict().items():
        assert_allclose(model.module.state_dict()[name].numpy(), tensor.numpy(), rtol=0)
    msg = f"open_clip:{tiny_open_clip} names no pretrained weights; add a tag"
    with pytest.raises(WeightsUnavailableError, match=re.escape(msg)):
        load_model(f"open_clip:{tiny_open_clip}", weights="trained")


@slow_import
def test_open_clip_trained_weights_from_the_hub_cache(tmp_path, monkeypatch, tiny_open_clip):
    import open_clip
    import torch
    from huggingface_hub import constants
    from open_clip import pretrained

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setitem(pretrained._PRETRAINED, tiny_open_clip,
                        {"tiny": {"hf_hub": "someone/tiny-clip/"}})
    torch.manual_seed(2)
    full = open_clip.create_model(tiny_open_clip)
    snapshot = _hub_cache(tmp_path, "someone/tiny-clip")
    snapshot.mkdir(parents=True)
    assert not trained_weights_cached(f"open_clip:{tiny_open_clip}/tiny")
    torch.save(full.state_dict(), snapshot / "open_clip_pytorch_model.bin")
    assert trained_weights_cached(f"open_clip:{tiny_open_clip}/tiny")
    model = load_model(f"open_clip:{tiny_open_clip}/tiny", weights="trained")
    assert model.weights_hash == load_model(full.visual).weights_hash
    assert model.info["open_clip_pretrained"] == "tiny"


@slow_import
def test_open_clip_pretrained_tag_missing_from_the_cache_offline():
    pytest.importorskip("open_clip")
    msg = ("The weights of open_clip:ViT-B-32/laion2b_s34b_b79k are not in the local cache "
           "(HF_HOME=")
    with pytest.raises(WeightsUnavailableError, match=re.escape(msg)):
        load_model("open_clip:ViT-B-32/laion2b_s34b_b79k", weights="trained")
    msg = "OpenCLIP has no pretrained weights 'laion2b' for ViT-B-32."
    with pytest.raises(WeightsUnavailableError, match=re.escape(msg)):
        load_model("open_clip:ViT-B-32/laion2b", weights="trained")


@slow_import
def test_open_clip_names_an_unknown_architecture():
    pytest.importorskip("open_clip")
    with pytest.raises(ValueError, match=re.escape("OpenCLIP has no model 'ViT-B-33'. Did you "
                                                   "mean")):
        load_model("open_clip:ViT-B-33", weights="random")


@slow_import
def test_random_networks_differ_from_each_other(tmp_path, tiny_open_clip):
    a = load_model(f"open_clip:{tiny_open_clip}", weights="random", seed=0)
    b = load_model(f"open_clip:{tiny_open_clip}", weights="random", seed=1)
    assert a.weights_hash != b.weights_hash
    assert not np.array_equal(a.module.conv1.weight.detach().numpy(),
                              b.module.conv1.weight.detach().numpy())
