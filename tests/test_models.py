import re

import pytest
import torch

from deeprsa import load_model
from deeprsa.models import Preprocessing, WeightsUnavailableError, list_sources, save_checkpoint


def test_sources_registry():
    assert list_sources() == ["checkpoint", "hf", "module", "open_clip", "timm", "torchvision",
                              "zoo"]


def test_random_weights_are_seeded():
    a = load_model("torchvision:resnet18", weights="random", seed=1)
    b = load_model("torchvision:resnet18", weights="random", seed=1)
    c = load_model("torchvision:resnet18", weights="random", seed=2)
    assert a.weights_hash == b.weights_hash != c.weights_hash
    assert a.name == "torchvision:resnet18@random(seed=1)"
    assert not a.module.training


def test_torchvision_preprocessing_from_weights_transforms():
    vit = load_model("torchvision:vit_b_16", weights="random")
    assert vit.input_shape == (3, 224, 224)
    assert vit.preprocessing.mean == pytest.approx((0.485, 0.456, 0.406))


def test_grayscale_stimulus_into_rgb_model():
    prep = load_model("torchvision:alexnet", weights="random").preprocessing
    out = prep(torch.rand(1, 8, 8))
    assert out.shape == (3, 224, 224)
    assert torch.equal(out[0] * 0.229 + 0.485, out[1] * 0.224 + 0.456) or torch.allclose(
        out[0] * 0.229 + 0.485, out[1] * 0.224 + 0.456, atol=1e-6)


def test_trained_weights_unavailable_offline_suggests_alternatives(monkeypatch):
    import torchvision

    def offline(*args, **kwargs):
        raise OSError("<urlopen error [Errno -3] Temporary failure in name resolution>")

    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", offline,
                        raising=False)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(WeightsUnavailableError, match=re.escape("Use weights='random'")):
        load_model("torchvision:alexnet", weights="trained")


def test_unknown_source_and_model_suggest():
    with pytest.raises(ValueError, match=re.escape("Unknown model source 'torchvison'. "
                                                   "Did you mean 'torchvision'?")):
        load_model("torchvison:resnet18")
    with pytest.raises(ValueError, match=re.escape("torchvision has no model 'resnet81'. "
                                                   "Did you mean")):
        load_model("torchvision:resnet81", weights="random")
    with pytest.raises(ValueError, match=re.escape("model must be '<source>:<name>'")):
        load_model("resnet18")


def test_state_dict_path_and_checkpoint_roundtrip(tmp_path):
    trained = load_model("torchvision:alexnet", weights="random", seed=5)
    torch.save(trained.module.state_dict(), tmp_path / "sd.pt")
    via_path = load_model("torchvision:alexnet", weights=tmp_path / "sd.pt")
    assert via_path.weights_hash == trained.weights_hash
    assert via_path.name == "torchvision:alexnet@sd.pt"

    save_checkpoint(trained.module, tmp_path / "ck.pt", architecture="torchvision:alexnet",
                    epoch=3)
    ck = load_model(f"checkpoint:{tmp_path / 'ck.pt'}")
    assert ck.weights_hash == trained.weights_hash
    assert ck.info["epoch"] == 3

    bare = load_model(f"checkpoint:{tmp_path / 'sd.pt'}", architecture="torchvision:alexnet")
    assert bare.weights_hash == trained.weights_hash
    with pytest.raises(ValueError, match=re.escape("holds a bare state dict and does not "
                                                   "name its architecture")):
        load_model(f"checkpoint:{tmp_path / 'sd.pt'}")


def test_checkpoint_refuses_pickled_objects(tmp_path):
    torch.save({"architecture": "torchvision:alexnet", "state_dict": object()},
               tmp_path / "evil.pt")
    with pytest.raises(ValueError, match=re.escape("with weights_only=True")):
        load_model(f"checkpoint:{tmp_path / 'evil.pt'}")


def test_state_dict_that_does_not_fit(tmp_path):
    torch.save(load_model("torchvision:alexnet", weights="random").module.state_dict(),
               tmp_path / "alex.pt")
    with pytest.raises(ValueError, match=re.escape("does not fit this architecture")):
        load_model("torchvision:resnet18", weights=tmp_path / "alex.pt")
    with pytest.raises(FileNotFoundError, match=re.escape("weights file 'nope.pt' does not "
                                                          "exist")):
        load_model("torchvision:resnet18", weights="nope.pt")


def test_module_source(monkeypatch):
    monkeypatch.syspath_prepend(str(__import__("pathlib").Path(__file__).parent))
    m = load_model("module:_nets:slow_net", seed=3)
    assert m.input_shape is None or m.preprocessing.channels == 1
    assert m.preprocessing.channels == 1
    with pytest.raises(TypeError, match=re.escape("returned int, not a torch.nn.Module")):
        load_model("module:_nets:not_a_module")
    with pytest.raises(ValueError, match=re.escape("'_nets' has no attribute 'slow_nte'. "
                                                   "Did you mean 'slow_net'?")):
        load_model("module:_nets:slow_nte")


def test_own_module_object():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3), torch.nn.ReLU())
    m = load_model(net, name="mine", preprocessing=Preprocessing(resize=(16, 16), crop=None))
    assert m.name == "mine" and m.input_shape == (3, 16, 16)


def test_timm_is_optional():
    try:
        import timm  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match=re.escape('pip install "deeprsa[timm]"')):
            load_model("timm:resnet18", weights="random")
    else:
        m = load_model("timm:resnet18", weights="random")
        assert m.input_shape[0] == 3
