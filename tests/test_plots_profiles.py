"""Figures of layers against a target: the layer profile and the weights of weighted RSA."""

import re

import numpy as np
import pytest
from numpy.testing import assert_allclose

from deeprsa import RDM
from deeprsa.analyses import layer_profile, weighted_rsa
from deeprsa.plots import plot_layer_profile, plot_weights
from deeprsa.plots.profiles import GID_BEST_LAYER, GID_CI_BAND, GID_NOISE_CEILING

IDS = [f"s{i}" for i in range(16)]


def _layers(rng, shared, model, n):
    out = []
    for k in range(n):
        X = (k / (n - 1)) * shared + rng.standard_normal(shared.shape)
        out.append(RDM(np.linalg.norm(X[:, None] - X[None], axis=-1), IDS,
                       {"model": model, "layer": f"stage{k}.out"}))
    return out


@pytest.fixture
def profile_inputs():
    rng = np.random.default_rng(0)
    shared = rng.standard_normal((16, 5))
    layers = _layers(rng, shared, "cnn", 4) + _layers(rng, shared, "vit", 6)
    subjects = []
    for _ in range(4):
        X = shared + 0.5 * rng.standard_normal(shared.shape)
        subjects.append(RDM(np.linalg.norm(X[:, None] - X[None], axis=-1), IDS,
                            {"target": "V4"}))
    return layers, subjects


def _gids(ax, gid):
    return [a for a in ax.get_children() if a.get_gid() == gid]


def test_layer_profile_draws_every_part(profile_inputs):
    layers, subjects = profile_inputs
    profile = layer_profile(layers, subjects, n_resamples=50, cv=4, seed=0)
    fig = plot_layer_profile(profile)
    cnn, vit = fig.axes[:2]
    assert [a.get_title() for a in (cnn, vit)] == ["cnn", "vit"]
    assert [t.get_text() for t in cnn.get_xticklabels()] == [f"stage{k}.out" for k in range(4)]
    for ax, name in ((cnn, "cnn"), (vit, "vit")):
        assert len(_gids(ax, GID_NOISE_CEILING)) == 1 and len(_gids(ax, GID_CI_BAND)) == 1
        star = _gids(ax, GID_BEST_LAYER)[0]
        best = profile.best.set_index("model").loc[name]
        rows = profile.table[profile.table.model == name]
        assert_allclose(star.get_offsets()[0], [best.depth, rows.estimate.iloc[best.depth]])
    assert cnn.get_ylabel() == "Spearman ρ"
    assert fig.get_suptitle() == "Layers against V4"
    # the noise-ceiling band spans the target's bounds
    band = _gids(cnn, GID_NOISE_CEILING)[0].get_extents()  # in display units: compare data
    lower, upper = profile.table.noise_ceiling_lower.iloc[0], profile.table.noise_ceiling_upper.iloc[0]
    y = cnn.transData.inverted().transform([[0, band.y0], [0, band.y1]])[:, 1]
    assert_allclose(y, [lower, upper], atol=1e-6)


def test_a_single_target_rdm_has_no_noise_ceiling_band(profile_inputs):
    layers, subjects = profile_inputs
    profile = layer_profile(layers, subjects[:1], n_resamples=20, cv=2, seed=0)
    fig = plot_layer_profile(profile, model="vit")
    assert len(fig.axes) == 1 and not _gids(fig.axes[0], GID_NOISE_CEILING)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "noise ceiling" not in labels


def test_layer_profile_names_an_unknown_model(profile_inputs):
    layers, subjects = profile_inputs
    profile = layer_profile(layers, subjects, n_resamples=10, cv=2, seed=0)
    with pytest.raises(ValueError, match=re.escape("Unknown model 'vitt'. Did you mean 'vit'?")):
        plot_layer_profile(profile, model="vitt")


def test_weights_are_bars_with_fold_spread(profile_inputs, tmp_path):
    layers, subjects = profile_inputs
    result = weighted_rsa(layers, subjects, cv=4, seed=0)
    fig = plot_weights(result, path=tmp_path / "w.png")
    ax = fig.axes[0]
    assert_allclose([b.get_height() for b in ax.patches], result.weights.weight)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["cnn", "vit"]
    assert "held-out cosine similarity" in ax.get_title()
    assert (tmp_path / "w.png").is_file() and (tmp_path / "w.svg").is_file()
