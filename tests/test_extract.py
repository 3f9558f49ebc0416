import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal

from deeprsa import Store, extract, load_model
from deeprsa.extract import list_reductions

TESTS = Path(__file__).parent


@pytest.fixture(scope="module")
def resnet():
    return load_model("torchvision:resnet18", weights="random", seed=0)


@pytest.fixture(scope="module")
def four(digits_small_module):
    return digits_small_module.subset(digits_small_module.stimulus_ids[:6])


@pytest.fixture(scope="module")
def digits_small_module():
    import deeprsa

    return deeprsa.digits(split="test").sample(2, seed=0)


def test_reductions_registry():
    assert list_reductions() == ["cls_token", "flatten", "sketch", "spatial_mean",
                                 "subsample_units", "token_mean"]


def test_all_blocks_in_one_pass_equal_each_alone(tmp_path, resnet, four):
    blocks = ["layer1", "layer2", "layer3", "layer4"]
    together = extract(resnet, four, blocks, Store(tmp_path / "a"), batch_size=4,
                       progress=False)
    assert list(together.status) == ["extracted"] * 4
    store_b = Store(tmp_path / "b")
    for block in blocks:
        extract(resnet, four, [block], store_b, batch_size=4, progress=False)
    for block in blocks:
        a, ids = Store(tmp_path / "a").load_activations(resnet.name, block)
        b, _ = store_b.load_activations(resnet.name, block)
        assert ids == four.stimulus_ids
        assert_array_equal(a, b)


def test_activations_match_a_plain_forward_hook(tmp_path, resnet, four):
    extract(resnet, four, ["layer2", "fc"], tmp_path, batch_size=3, progress=False)
    x = torch.stack([resnet.preprocessing(four.load(i)) for i in range(len(four))])
    got = {}
    h = resnet.module.layer2.register_forward_hook(lambda m, i, o: got.setdefault("l2", o))
    with torch.inference_mode():
        logits = resnet.module(x)
    h.remove()
    store = Store(tmp_path)
    # Tolerance: batch of 3 vs batch of 6 may pick different float32 conv kernels.
    assert_allclose(store.load_activations(resnet.name, "fc")[0], logits.numpy(),
                    rtol=1e-4, atol=1e-5)
    assert_allclose(store.load_activations(resnet.name, "layer2")[0],
                    got["l2"].flatten(1).numpy(), rtol=1e-4, atol=1e-5)


def test_rerun_skips_and_changed_inputs_never_reuse(tmp_path, resnet, four):
    first = extract(resnet, four, ["layer4"], tmp_path, batch_size=4, progress=False)
    again = extract(resnet, four, ["layer4"], tmp_path, batch_size=4, progress=False)
    assert list(again.status) == ["skipped"] and again.key[0] == first.key[0]
    other_weights = load_model("torchvision:resnet18", weights="random", seed=1)
    changed = extract(other_weights, four, ["layer4"], tmp_path, batch_size=4, progress=False)
    assert changed.key[0] != first.key[0]
    reordered = four.subset(list(reversed(four.stimulus_ids)))
    assert extract(resnet, reordered, ["layer4"], tmp_path, batch_size=4,
                   progress=False).key[0] not in (first.key[0], changed.key[0])


def test_reductions(tmp_path, resnet, four):
    out = extract(resnet, four, ["layer3", "layer4", "avgpool"], tmp_path, batch_size=6,
                  reduction={"layer3": "spatial_mean", "layer4": "subsample_units:100"},
                  progress=False)
    assert list(out.n_features) == [256, 100, 512]
    store = Store(tmp_path)
    flat = extract(resnet, four, ["layer3", "layer4"], tmp_path, batch_size=6,
                   progress=False)
    l3 = store.read(flat.key[0]).reshape(len(four), 256, 14, 14)
    assert_allclose(store.read(out.key[0]), l3.mean(axis=(2, 3)), rtol=1e-5, atol=1e-6)
    l4 = store.read(flat.key[1])
    sub = store.read(out.key[1])
    # The subsample is a fixed, seeded subset of the flattened units.
    idx = np.sort(np.random.default_rng(0).choice(l4.shape[1], 100, replace=False))
    assert_array_equal(sub, l4[:, idx])


def test_vit_cls_token_is_encoder_output_at_token_zero(tmp_path, four):
    vit = load_model("torchvision:vit_b_16", weights="random", seed=0)
    two = four.subset(four.stimulus_ids[:2])
    out = extract(vit, two, ["encoder"], tmp_path, reduction="cls_token", batch_size=2,
                  progress=False)
    x = torch.stack([vit.preprocessing(two.load(i)) for i in range(2)])
    with torch.inference_mode():
        seq = vit.module._process_input(x)  # patch embedding, as VisionTransformer.forward
        seq = torch.cat([vit.module.class_token.expand(2, -1, -1), seq], dim=1)
        tokens = vit.module.encoder(seq)
    assert out.n_features[0] == 768
    assert_allclose(Store(tmp_path).read(out.key[0]), tokens[:, 0].numpy(), rtol=1e-4,
                    atol=1e-5)


@pytest.mark.parametrize("reduction, message", [
    ("spatial_man", "Unknown reduction 'spatial_man'. Did you mean 'spatial_mean'?"),
    ("cls_token", "Layer 'layer1': cls_token needs (batch, tokens, features); got "),
    ({"layer9": "flatten"}, "reduction names layer 'layer9', which is not selected. Did you "
                            "mean 'layer1'?"),
])
def test_bad_reductions(tmp_path, resnet, four, reduction, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        extract(resnet, four, ["layer1"], tmp_path, reduction=reduction, progress=False)


def test_bad_arguments(tmp_path, resnet, four):
    with pytest.raises(TypeError, match=re.escape("stimuli must be a StimulusSet")):
        extract(resnet, np.zeros((2, 8, 8)), ["layer1"], tmp_path)
    with pytest.raises(ValueError, match=re.escape("batch_size must be a positive int")):
        extract(resnet, four, ["layer1"], tmp_path, batch_size=0)
    with pytest.raises(ValueError, match=re.escape("No layer matches 'layr1'. Did you mean "
                                                   "'layer1'?")):
        extract(resnet, four, ["layr1"], tmp_path)


def test_failure_midway_keeps_finished_batches(tmp_path, four):
    import deeprsa

    stim = deeprsa.digits(split="test").subset(deeprsa.digits(split="test").stimulus_ids[:12])
    net = load_model("torchvision:alexnet", weights="random")
    calls = {"n": 0}

    def boom(_m, _i, _o):
        calls["n"] += 1
        if calls["n"] == 4:  # 1 probe + 1 capture + 2 good batches, then fail
            raise RuntimeError("simulated crash")

    h = net.module.features.register_forward_hook(boom)
    with pytest.raises(RuntimeError, match="simulated crash"):
        extract(net, stim, ["features"], tmp_path, batch_size=4, progress=False)
    h.remove()
    entry = Store(tmp_path).entries("activations").iloc[0]
    assert entry.rows_done == 4 and not entry.complete
    with pytest.raises(ValueError, match=re.escape("is incomplete: 4 of 12 rows")):
        Store(tmp_path).read(entry.key)
    out = extract(net, stim, ["features"], tmp_path, batch_size=4, progress=False)
    assert list(out.status) == ["resumed"]


@pytest.mark.slow
def test_sigkill_midway_resumes_bit_identical(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(TESTS)!r})
        import deeprsa
        stim = deeprsa.digits(split="test").sample(4, seed=0)
        deeprsa.extract("module:_nets:slow_net", stim, ["conv", "relu", "fc"], sys.argv[1],
                        batch_size=4, seed=0, progress=False)
    """)
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-c", script, str(killed)])
    deadline = time.time() + 120
    while time.time() < deadline:
        time.sleep(0.05)
        manifest = killed / "manifest.json"
        if manifest.exists():
            table = Store(killed, mode="r").entries("activations")
            if not table.empty and table.rows_done.min() >= 12:
                break
        if proc.poll() is not None:
            pytest.fail("the extraction finished before it could be killed")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    table = Store(killed, mode="r").entries("activations")
    assert not table.complete.any() and table.rows_done.max() < 40

    sys.path.insert(0, str(TESTS))
    try:
        import deeprsa

        stim = deeprsa.digits(split="test").sample(4, seed=0)
        resumed = extract("module:_nets:slow_net", stim, ["conv", "relu", "fc"], killed,
                          batch_size=4, seed=0, progress=False)
        fresh = extract("module:_nets:slow_net", stim, ["conv", "relu", "fc"],
                        tmp_path / "fresh", batch_size=4, seed=0, progress=False)
    finally:
        sys.path.remove(str(TESTS))
    assert set(resumed.status) == {"resumed"}
    assert list(resumed.key) == list(fresh.key)
    for key in fresh.key:
        assert_array_equal(Store(killed).read(key), Store(tmp_path / "fresh").read(key))


def _as_the_hook_saw_it(loaded, stimuli, layers):
    """Each layer's output copied inside its forward hook: the reference."""
    import torch

    seen = {}
    handles = [loaded.module.get_submodule(name).register_forward_hook(
        lambda _m, _i, out, name=name: seen.__setitem__(name, out.detach().clone().flatten(1)))
        for name in layers]
    try:
        with torch.inference_mode():
            loaded.module(torch.stack([loaded.preprocessing(stimuli.load(i))
                                       for i in range(len(stimuli))]))
    finally:
        for h in handles:
            h.remove()
    return {name: t.numpy() for name, t in seen.items()}


def test_outputs_changed_in_place_later_are_stored_as_the_layer_gave_them(tmp_path):
    """torchvision's ResNets apply ReLU(inplace=True) to BatchNorm outputs and add the
    shortcut in place (out += identity): a layer's activation is its output, not what the
    network later made of that tensor (they were stored after the ReLU and the addition)."""
    from deeprsa import StimulusSet, extract, load_model

    loaded = load_model("torchvision:resnet18", weights="random", seed=0)
    images = np.random.default_rng(0).random((4, 3, 40, 40), dtype=np.float32)
    stimuli = StimulusSet.from_arrays(images)
    layers = ["bn1", "layer1.0.bn1", "layer1.0.bn2", "layer2.0.bn2", "layer2.0.downsample.1"]
    store = Store(tmp_path / "store")
    extract(loaded, stimuli, layers, store, progress=False)
    reference = _as_the_hook_saw_it(loaded, stimuli, layers)
    for layer in layers:
        stored = store.load_activations(loaded.name, layer)[0]
        np.testing.assert_array_equal(stored, reference[layer], err_msg=layer)
        assert stored.min() < 0, f"{layer} looks rectified"  # BatchNorm outputs go below 0


def test_a_reduction_that_is_a_view_is_copied_before_the_network_changes_it(tmp_path):
    import torch

    from deeprsa import StimulusSet, extract, load_model

    class Embed(torch.nn.Linear):
        def forward(self, x):
            return super().forward(x.flatten(1)).view(-1, 5, 8)  # (batch, tokens, features)

    class Tokens(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = Embed(16, 5 * 8)

        def forward(self, x):
            return self.embed(x).mul_(0)  # the embedding's output, zeroed in place

    loaded = load_model(Tokens(), name="tokens")
    stimuli = StimulusSet.from_arrays(
        np.random.default_rng(1).random((6, 1, 4, 4), dtype=np.float32))
    store = Store(tmp_path / "store")
    extract(loaded, stimuli, ["embed"], store, reduction="cls_token", progress=False)
    stored = store.load_activations("tokens", "embed")[0]
    expected = _as_the_hook_saw_it(loaded, stimuli, ["embed"])["embed"].reshape(6, 5, 8)[:, 0]
    assert np.abs(stored).max() > 0
    np.testing.assert_array_equal(stored, expected)
