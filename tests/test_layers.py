import json
import re

import pytest

from deeprsa import list_layers, read_layer_file, select_layers, write_layer_file
from deeprsa.models import load_model


@pytest.fixture(scope="module")
def tables():
    names = ["alexnet", "resnet18", "vgg11", "vit_b_16"]
    return {n: list_layers(load_model(f"torchvision:{n}", weights="random")) for n in names}


@pytest.mark.parametrize("name, layer, shape", [
    ("alexnet", "features.0", (64, 55, 55)),
    ("alexnet", "classifier.6", (1000,)),
    ("resnet18", "layer3", (256, 14, 14)),
    ("resnet18", "avgpool", (512, 1, 1)),
    ("vgg11", "features.20", (512, 7, 7)),
    ("vit_b_16", "encoder.layers.encoder_layer_11", (197, 768)),
    ("vit_b_16", "heads.head", (1000,)),
])
def test_output_shapes(tables, name, layer, shape):
    row = tables[name].set_index("layer").loc[layer]
    assert row.output_shape == shape
    assert row.n_units == int(__import__("numpy").prod(shape))


def test_table_columns_and_ordinals(tables):
    t = tables["resnet18"]
    assert list(t.columns) == ["ordinal", "layer", "type", "output_shape", "n_units", "calls",
                               "leaf", "depth"]
    assert list(t.ordinal) == list(range(len(t)))
    # torchvision's BasicBlock calls its one ReLU module twice.
    assert t.set_index("layer").loc["layer1.0.relu", "calls"] == 2


@pytest.mark.parametrize("selector, expected", [
    ("top_level", ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4",
                   "avgpool", "fc"]),
    (["layer*"], ["layer1", "layer2", "layer3", "layer4"]),
    (["layer4.*"], ["layer4.0", "layer4.1"]),
    (["**.downsample.0"], ["layer2.0.downsample.0", "layer3.0.downsample.0",
                           "layer4.0.downsample.0"]),
    ([0, -1], ["conv1", "fc"]),
    (["fc", "conv1", "fc"], ["conv1", "fc"]),
    ("AdaptiveAvgPool2d", ["avgpool"]),
])
def test_selection(tables, selector, expected):
    assert select_layers(tables["resnet18"], selector) == expected


def test_presets_sizes(tables):
    t = tables["alexnet"]
    assert select_layers(t, "leaf") == t[t.leaf].layer.tolist()
    assert len(select_layers(t, "all")) == len(t)
    assert select_layers(tables["vgg11"], "Conv2d")[:2] == ["features.0", "features.3"]


def test_dot_is_literal_in_names(tables):
    # 'layer1.0' must not match a hypothetical 'layer1x0': patterns escape the dot.
    assert select_layers(tables["resnet18"], ["layer1.?"]) == ["layer1.0", "layer1.1"]


@pytest.mark.parametrize("selector, message", [
    ("layer5", "No layer matches 'layer5'. Did you mean 'layer4'?"),
    ("conv", "No layer matches 'conv'. Did you mean 'conv1'?"),
    ("Conv2D", "Did you mean 'Conv2d'?"),
    ("block*", "The pattern 'block*' matches no layer."),
    (99, "Layer ordinal 99 is out of range: this model has 67 layers (ordinals 0-66)."),
    ([], "No layers selected"),
])
def test_selection_errors(tables, selector, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        select_layers(tables["resnet18"], selector)


def test_layer_file_roundtrip(tmp_path, tables):
    path = tmp_path / "layers.json"
    write_layer_file(path, table=tables["alexnet"], model="alexnet")
    write_layer_file(path, {"resnet18": ["layer1", "layer4"]})
    records = json.loads(path.read_text())
    assert records[0]["model"] == "alexnet" and "output_shape" in records[0]
    got = read_layer_file(path)
    assert got["resnet18"] == ["layer1", "layer4"]
    assert len(got["alexnet"]) == len(tables["alexnet"])
    with pytest.raises(ValueError, match=re.escape("has no model 'resnet19'. Did you mean "
                                                   "'resnet18'?")):
        read_layer_file(path, model="resnet19")
    (tmp_path / "bad.json").write_text('{"a": 1}')
    with pytest.raises(ValueError, match=re.escape("must be a JSON list of records")):
        read_layer_file(tmp_path / "bad.json")
