"""Figures: what each one shows (ticks, colourbars, boundaries, stress, trajectories), not only
that it exists."""

import re

import matplotlib
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.spatial.distance import pdist, squareform

from deeprsa import plots
from deeprsa.analyses import compute_mds
from deeprsa.compare import compare_rdms
from deeprsa.rdm import RDM

matplotlib.use("Agg")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _blocky_rdm(classes, *, seed=0, measure="correlation"):
    """An RDM whose stimuli cluster by class, in shuffled order, with provenance."""
    rng = np.random.default_rng(seed)
    centres = {c: rng.normal(size=5) * 4 for c in dict.fromkeys(classes)}
    X = np.array([centres[c] + rng.normal(size=5) * 0.3 for c in classes])
    ids = [f"s{i}" for i in range(len(classes))]
    D = squareform(pdist(X))
    return RDM(D, ids, {"model": "net", "layer": "fc", "measure": measure}), X


@pytest.fixture
def shuffled():
    classes = ["dog", "cat", "dog", "bird", "cat", "bird", "dog", "cat", "bird"]
    rdm, _ = _blocky_rdm(classes)
    return rdm, classes


def _boundaries(ax):
    return [c for c in ax.collections if c.get_gid() == plots.GID_CLASS_BOUNDARY]


def test_plot_rdm_sorts_stimuli_by_class_with_named_ticks_and_boundaries(shuffled):
    rdm, classes = shuffled
    fig = plots.plot_rdm(rdm, labels=classes)
    ax, colorbar_ax = fig.axes

    assert [t.get_text() for t in ax.get_xticklabels()] == ["bird", "cat", "dog"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["bird", "cat", "dog"]
    (lines,) = _boundaries(ax)
    assert len(lines.get_segments()) == 2 * (3 - 1)  # one row and one column line per boundary
    order = np.argsort(classes, kind="stable")
    assert_allclose(ax.images[0].get_array(), rdm.matrix[np.ix_(order, order)], rtol=0)
    assert colorbar_ax.get_ylabel() == "correlation distance (1 − Pearson r)"
    assert ax.get_title() == "net · fc"


def test_plot_rdm_percentile_colours_by_rank_among_pairs(shuffled):
    rdm, classes = shuffled
    fig = plots.plot_rdm(rdm, labels=classes, percentile=True)
    shown = np.asarray(fig.axes[0].images[0].get_array())
    off = shown[~np.eye(len(shown), dtype=bool)]
    n_pairs = len(rdm.vector())

    assert_allclose(np.sort(np.unique(off)), np.arange(1, n_pairs + 1) * 100 / n_pairs)
    assert fig.axes[1].get_ylabel() == "percentile of correlation distance (1 − Pearson r)"
    # Same percentiles as RDM.percentile(), which follows scipy's percentileofscore.
    order = np.argsort(classes, kind="stable")
    assert_allclose(shown, rdm.percentile().matrix[np.ix_(order, order)], rtol=1e-12)


@pytest.mark.parametrize("labels", [
    pytest.param(lambda ids, cl: dict(zip(ids, cl, strict=True)), id="mapping"),
    pytest.param(lambda ids, cl: pd.Series(cl, index=ids), id="series"),
    pytest.param(lambda ids, cl: pd.DataFrame({"label": cl}, index=ids).iloc[::-1], id="frame"),
])
def test_labels_by_stimulus_id_follow_the_rdm_order(shuffled, labels):
    rdm, classes = shuffled
    fig = plots.plot_rdm(rdm, labels=labels(rdm.stimulus_ids, classes))
    expected = plots.plot_rdm(rdm, labels=classes)
    assert_array_equal(fig.axes[0].images[0].get_array(),
                       expected.axes[0].images[0].get_array())


def test_plot_rdm_without_sorting_keeps_the_order_and_marks_every_change(shuffled):
    rdm, classes = shuffled
    fig = plots.plot_rdm(rdm, labels=classes, sort=False)
    ax = fig.axes[0]
    changes = sum(a != b for a, b in zip(classes[:-1], classes[1:], strict=True))

    assert_allclose(ax.images[0].get_array(), rdm.matrix, rtol=0)
    assert len(_boundaries(ax)[0].get_segments()) == 2 * changes


def test_plot_rdm_accepts_a_plain_matrix_without_labels():
    D = squareform(pdist(np.random.default_rng(0).normal(size=(5, 3))))
    fig = plots.plot_rdm(D)
    ax = fig.axes[0]
    assert list(ax.get_xticks()) == []
    assert _boundaries(ax) == []
    assert fig.axes[1].get_ylabel() == "dissimilarity"


@pytest.mark.parametrize("labels, message", [
    (["a", "b"], "labels has 2 entries for 9 stimuli; give one label per stimulus, in the "
                 "RDM's order."),
    ({"s0": "a"}, "labels has no entry for 8 stimulus id(s), e.g. ['s1', 's2', 's3']."),
    (pd.DataFrame({"labl": range(9)}, index=[f"s{i}" for i in range(9)]),
     "labels has no column 'label'. Did you mean 'labl'? Columns: ['labl']."),
], ids=["length", "missing-ids", "column"])
def test_plot_rdm_label_errors(shuffled, labels, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        plots.plot_rdm(shuffled[0], labels=labels)


def test_plot_rdm_rejects_a_non_square_matrix():
    with pytest.raises(ValueError, match=re.escape("An RDM must be a square matrix; got shape "
                                                   "(2, 3).")):
        plots.plot_rdm(np.zeros((2, 3)))


def test_figures_are_saved_as_png_and_svg(tmp_path, shuffled):
    rdm, classes = shuffled
    plots.plot_rdm(rdm, labels=classes, path=tmp_path / "sub" / "rdm.png")
    png, svg = tmp_path / "sub" / "rdm.png", tmp_path / "sub" / "rdm.svg"
    assert png.read_bytes().startswith(PNG_SIGNATURE)
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    assert "cat" in text  # svg.fonttype none: tick labels stay editable text


def test_save_figure_rejects_unknown_formats(tmp_path):
    from matplotlib.figure import Figure

    msg = "Unknown figure format 'jpg'. Did you mean 'png'? Available: 'pdf', 'png', 'svg'."
    with pytest.raises(ValueError, match=re.escape(msg)):
        plots.save_figure(Figure(), tmp_path / "x", formats=("png", "jpg"))


def _layer_rdms(n_layers=4, classes=(0, 0, 0, 1, 1, 1, 2, 2, 2)):
    rdms = []
    for k in range(n_layers):
        rdm, _ = _blocky_rdm(list(classes), seed=k)
        rdms.append(RDM(rdm.matrix, rdm.stimulus_ids,
                        {"model": "net", "layer": f"layer{k}", "measure": "euclidean"}))
    return rdms


def test_plot_rdms_draws_one_panel_per_layer_and_one_shared_colourbar():
    rdms = _layer_rdms(5)
    fig = plots.plot_rdms(rdms, labels=[0, 0, 0, 1, 1, 1, 2, 2, 2])
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.images]

    assert [ax.get_title() for ax in panels] == [f"layer{k}" for k in range(5)]
    assert fig._suptitle.get_text() == "net"
    colourbars = [ax for ax in fig.axes if ax.get_ylabel().startswith("percentile")]
    assert len(colourbars) == 1
    assert colourbars[0].get_ylabel() == "percentile of Euclidean distance"
    assert all(ax.images[0].get_clim() == (0.0, 100.0) for ax in panels)


def test_plot_rdms_raw_panels_share_one_scale():
    rdms = _layer_rdms(3)
    fig = plots.plot_rdms(rdms, percentile=False)
    top = max(float(r.matrix.max()) for r in rdms)
    assert all(ax.images[0].get_clim() == (0.0, top) for ax in fig.axes if ax.images)


def test_plot_rdms_rejects_rdms_over_other_stimuli():
    a, b = _layer_rdms(2)
    other = RDM(b.matrix, [f"t{i}" for i in range(9)], {"layer": "x"})
    msg = "All RDMs must share stimulus ids in the same order; RDM 'x' differs from the first."
    with pytest.raises(ValueError, match=re.escape(msg)):
        plots.plot_rdms([a, other])


def _two_models():
    rdms = []
    for model, n in (("alexnet", 3), ("vgg", 2)):
        for k in range(n):
            rdm, _ = _blocky_rdm([0, 0, 1, 1, 2, 2], seed=10 * len(model) + k)
            rdms.append(RDM(rdm.matrix, rdm.stimulus_ids,
                            {"model": model, "layer": f"conv{k + 1}", "measure": "correlation"}))
    return rdms


def test_plot_model_rdm_labels_layers_and_outlines_each_model():
    result = compare_rdms(_two_models(), method="spearman")
    fig = plots.plot_model_rdm(result)
    ax = fig.axes[0]

    blocks = [p for p in ax.patches if p.get_gid() == plots.GID_MODEL_BLOCK]
    assert [(b.get_x(), b.get_width()) for b in blocks] == [(-0.5, 3), (2.5, 2)]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["conv1", "conv2", "conv3",
                                                            "conv1", "conv2"]
    top = [a for a in ax.child_axes if a.get_xticklabels()]
    assert [t.get_text() for t in top[0].get_xticklabels()] == ["alexnet", "vgg"]
    assert_allclose(ax.images[0].get_array(), 1 - result.matrix - np.diag(np.diag(
        1 - result.matrix)), atol=1e-12)
    assert "Spearman ρ" in fig.axes[-1].get_ylabel()
    assert ax.get_title() == "multi-model RDM"
    assert len(ax.texts) == 25  # every value written in its cell (5 x 5)


def test_plot_model_rdm_of_one_model_from_an_rdm_with_model_layer_ids():
    result = compare_rdms(_two_models()[:3], method="spearman")
    fig = plots.plot_model_rdm(result.to_rdm())
    assert fig.axes[0].get_title() == "model RDM · alexnet"
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["conv1", "conv2", "conv3"]


def test_plot_model_rdm_requires_contiguous_models():
    D = squareform([0.2, 0.4, 0.5, 0.3, 0.6, 0.1])
    msg = ("The rows of model 'a' are not contiguous; order the rows model by model "
           "(multi_model_rdm does).")
    with pytest.raises(ValueError, match=re.escape(msg)):
        plots.plot_model_rdm(D, labels=list("wxyz"), groups=["a", "b", "a", "b"])


# ---------------------------------------------------------------------------- MDS


def test_compute_mds_recovers_euclidean_points_with_zero_stress():
    points = np.random.default_rng(0).normal(size=(12, 2))
    D = squareform(pdist(points))
    result = compute_mds(D)
    # Distances, not coordinates (MDS is unique only up to rotation and reflection).
    assert_allclose(pdist(result.coordinates), pdist(points), atol=1e-3)
    assert result.stress < 1e-3
    assert result.metric and result.n_components == 2


def test_compute_mds_stress_is_kruskal_stress1():
    D = squareform(pdist(np.random.default_rng(1).normal(size=(15, 6))))
    for metric in (True, False):
        result = compute_mds(D, metric=metric, n_components=3)
        d = pdist(result.coordinates)
        delta = squareform(D)
        if metric:
            expected = np.sqrt(np.sum((d - delta) ** 2) / np.sum(delta**2))
        else:
            from sklearn.isotonic import IsotonicRegression

            fit = IsotonicRegression().fit_transform(delta, d)
            expected = np.sqrt(np.sum((d - fit) ** 2) / np.sum(d**2))
        assert_allclose(result.stress, expected, rtol=1e-10)
        assert 0 < result.stress < 0.3


@pytest.mark.parametrize("D, message", [
    (np.zeros((3, 4)), "dissimilarity must be a square matrix; got shape (3, 4)."),
    (np.zeros((2, 2)), "MDS needs at least 3 points, got 2."),
    (np.array([[0, 1, 2], [1, 0, 1], [3, 1, 0.]]), "dissimilarity must be symmetric."),
    (np.array([[0, -1, 2], [-1, 0, 1], [2, 1, 0.]]),
     "dissimilarity must be non-negative; the smallest entry is -1. Use 1 - similarity, "
     "not the similarity."),
    (np.array([[0, np.nan, 2], [np.nan, 0, 1], [2, 1, 0.]]),
     "dissimilarity holds NaN or infinity; drop undefined comparisons"),
], ids=["shape", "too-few", "asymmetric", "negative", "nan"])
def test_compute_mds_input_errors(D, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        compute_mds(D)


def test_compute_mds_allows_only_plots():
    with pytest.raises(ValueError, match=re.escape("n_components must be 2 or 3 (a plot), "
                                                   "got 4.")):
        compute_mds(np.ones((4, 4)) - np.eye(4), n_components=4)


@pytest.mark.parametrize("name", ["compute_mds", "MDSResult"])
def test_mds_computation_is_still_importable_from_plots_with_a_warning(name):
    from deeprsa import analyses

    msg = f"deeprsa.plots.{name} moved to deeprsa.analyses.{name}"
    with pytest.warns(DeprecationWarning, match=re.escape(msg)) as record:
        moved = getattr(plots, name)
    assert moved is getattr(analyses, name)
    assert record[0].filename == __file__
    with pytest.warns(DeprecationWarning, match=re.escape(msg)):
        exec(f"from deeprsa.plots import {name}", {})


def test_plots_has_no_other_moved_names():
    with pytest.raises(AttributeError, match=re.escape("module 'deeprsa.plots' has no "
                                                       "attribute 'compute_rdm'")):
        plots.compute_rdm  # noqa: B018


def test_plot_mds_of_a_multi_model_rdm_draws_one_trajectory_per_model_and_the_stress():
    result = compare_rdms(_two_models(), method="spearman")
    fig = plots.plot_mds(result, trajectories=True)
    ax = fig.axes[0]

    trajectories = [line for line in ax.lines if line.get_gid() == plots.GID_TRAJECTORY]
    assert [line.get_label() for line in trajectories] == ["alexnet", "vgg"]
    assert [len(line.get_xdata()) for line in trajectories] == [3, 2]
    (stress,) = [t for t in ax.texts if t.get_gid() == plots.GID_STRESS]
    expected = compute_mds(result).stress
    assert stress.get_text() == f"metric MDS, stress-1 = {expected:.3f}"
    labels = [t.get_text() for t in ax.texts if t.get_gid() != plots.GID_STRESS
              and t.get_text()]  # arrows are empty annotations
    assert sorted(labels) == sorted(["conv1", "conv2", "conv3", "conv1", "conv2"])
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["alexnet", "vgg", "first layer", "last layer (arrowhead)"]
    assert ax.get_title() == "MDS of layers (1 − Spearman ρ between RDMs)"


def test_plot_mds_with_thumbnails_and_classes():
    classes = [0, 0, 0, 1, 1, 1, 2, 2, 2]
    rdm, _ = _blocky_rdm(classes)
    images = [np.full((8, 8), i / 9) if i % 2 == 0 else None for i in range(9)]
    fig = plots.plot_mds(rdm, groups=classes, images=images, metric=False, legend_title="digit")
    ax = fig.axes[0]

    thumbnails = [a for a in ax.artists if a.get_gid() == plots.GID_THUMBNAIL]
    assert len(thumbnails) == 5
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["0", "1", "2"]
    assert ax.get_legend().get_title().get_text() == "digit"
    assert any(t.get_text().startswith("non-metric MDS, stress-1 = ") for t in ax.texts)
    assert ax.get_title() == "MDS of stimuli (correlation distance (1 − Pearson r))"


def test_plot_mds_edges_colour_every_pair_by_dissimilarity():
    rdm, _ = _blocky_rdm([0, 0, 1, 1, 2])
    fig = plots.plot_mds(rdm, edges=True)
    (edges,) = [c for c in fig.axes[0].collections if c.get_gid() == plots.GID_EDGE]
    assert len(edges.get_segments()) == 10
    assert fig.axes[1].get_xlabel() == "line colour: correlation distance (1 − Pearson r)"


def test_plot_mds_palette_colours_the_groups():
    result = compare_rdms(_two_models(), method="spearman")
    fig = plots.plot_mds(result, trajectories=True, palette={"alexnet": "red", "vgg": "blue"})
    lines = [line for line in fig.axes[0].lines if line.get_gid() == plots.GID_TRAJECTORY]
    assert [line.get_color() for line in lines] == ["red", "blue"]
    with pytest.raises(ValueError, match=re.escape("palette has no colour for group 'vgg'.")):
        plots.plot_mds(result, palette={"alexnet": "red"})


def test_plot_mds_in_3d():
    result = compare_rdms(_two_models(), method="spearman")
    fig = plots.plot_mds(result, trajectories=True, n_components=3)
    ax = fig.axes[0]
    assert ax.name == "3d"
    assert any(t.get_gid() == plots.GID_STRESS for t in ax.texts)
    assert sum(line.get_gid() == plots.GID_TRAJECTORY for line in ax.lines) == 2


@pytest.mark.parametrize("kwargs, message", [
    ({"edges": True, "n": 61}, "edges=True draws a line for each of the 1830 pairs of 61 "
                               "points; use it for at most 60 points, e.g. the layers of one "
                               "model."),
    ({"images": [np.zeros((2, 2))] * 4, "n_components": 3},
     "Thumbnails (images=) need a 2-D map; use n_components=2."),
    ({"annotate": "end"}, "Unknown annotate 'end'. Did you mean 'ends'? Available: 'all', "
                          "'ends', 'none'."),
    ({"labels": ["a"]}, "labels has 1 entries for 4 points."),
    ({"trajectories": [0, 0]}, "trajectories has 2 entries for 4 points; give the trajectory "
                               "(e.g. the model) of each point, in depth order."),
], ids=["edges", "3d-thumbnails", "annotate", "labels", "trajectories"])
def test_plot_mds_errors(kwargs, message):
    n = kwargs.pop("n", 4)
    D = squareform(pdist(np.arange(n, dtype=float)[:, None]))
    with pytest.raises(ValueError, match=re.escape(message)):
        plots.plot_mds(D, **kwargs)


# ---------------------------------------------------------------------------- the rest


def test_plot_variance_explained_counts_components_to_the_threshold():
    variance = {"conv1": [0.4, 0.2, 0.2, 0.1, 0.1], "fc": [0.7, 0.2, 0.1], "logits": [1.0]}
    fig = plots.plot_variance_explained(variance)
    left, right, key = fig.axes

    assert [t.get_text() for t in right.get_xticklabels()] == ["conv1", "fc", "logits"]
    assert [t.get_text() for t in key.get_yticklabels()] == ["conv1", "fc", "logits"]
    assert list(right.lines[0].get_ydata()) == [3, 2, 1]
    assert right.get_ylabel() == "components to reach 80 %"
    assert [line.get_label() for line in left.lines[:3]] == ["conv1", "fc", "logits"]
    assert_allclose(left.lines[0].get_ydata(), [0.4, 0.6, 0.8, 0.9, 1.0])


def test_plot_variance_explained_reads_the_analyses_table():
    table = pd.DataFrame({"model": "net", "layer": ["a", "a", "b", "b"],
                          "component": [2, 1, 1, 2],
                          "explained_variance_ratio": [0.1, 0.9, 0.5, 0.5]})
    fig = plots.plot_variance_explained(table, threshold=0.9)
    assert list(fig.axes[1].lines[0].get_ydata()) == [1, 2]


def test_plot_variance_explained_shortens_names_and_skips_constant_layers():
    variance = {"encoder.layers.block_0": [0.9, 0.1], "encoder.layers.block_1": [0.5, 0.5],
                "heads": [np.nan, np.nan]}
    fig = plots.plot_variance_explained(variance)
    right = fig.axes[1]
    assert [t.get_text() for t in right.get_xticklabels()] == ["block_0", "block_1", "heads"]
    assert list(right.lines[0].get_xdata()) == [0, 1]  # the constant layer has no point
    assert list(right.lines[0].get_ydata()) == [1, 2]


def test_plot_variance_explained_wants_one_model():
    table = pd.DataFrame({"model": ["m1", "m2"], "layer": ["a", "a"],
                          "explained_variance_ratio": [1.0, 1.0]})
    msg = ("variance holds 2 models (m1, m2); plot one at a time, e.g. "
           "variance[variance.model == name].")
    with pytest.raises(ValueError, match=re.escape(msg)):
        plots.plot_variance_explained(table)


def test_plot_images_one_row_per_class(digits_small):
    fig = plots.plot_images(digits_small, n_per_class=2)
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == [str(d) for d in range(10)]
    mosaic = ax.images[0].get_array()
    gap = 1
    assert mosaic.shape == (10 * (8 + gap) - gap, 2 * (8 + gap) - gap)
    first_zero = digits_small.metadata.index[digits_small.labels == 0][0]
    position = digits_small.stimulus_ids.index(first_zero)
    assert_allclose(mosaic[:8, :8], digits_small.load(position)[0].numpy())


def test_plot_images_checks_n_per_class(digits_small):
    msg = "n_per_class must be a positive int, got 0."
    with pytest.raises(ValueError, match=re.escape(msg)):
        plots.plot_images(digits_small, n_per_class=0)


def test_plot_srm_trajectories_draws_each_network_before_and_after():
    rng = np.random.default_rng(0)
    shared = rng.normal(size=(30, 3))
    before = [shared @ rng.normal(size=(3, 10)) for _ in range(3)]
    fig = plots.plot_srm_trajectories(before, [shared] * 3, labels=np.arange(30) % 5,
                                      names=["a", "b", "c"])
    left, right = fig.axes
    for ax in (left, right):
        lines = [line for line in ax.lines if line.get_gid() == plots.GID_TRAJECTORY]
        assert [line.get_label() for line in lines] == ["a", "b", "c"]
        assert all(len(line.get_xdata()) == 5 for line in lines)  # through the class means
    assert sorted(t.get_text() for t in right.texts) == ["0", "1", "2", "3", "4"]
    # Native spaces share no positions: each network's class means are named in its colour.
    assert sorted(t.get_text() for t in left.texts) == sorted("01234" * 3)
    colours = {tuple(np.round(t.get_color(), 6)) for t in left.texts}
    assert len(colours) == 3
    # Identical shared responses: the three aligned paths coincide.
    paths = [np.c_[line.get_xdata(), line.get_ydata()] for line in right.lines
             if line.get_gid() == plots.GID_TRAJECTORY]
    assert_allclose(paths[0], paths[2], atol=1e-10)


def test_plot_srm_trajectories_errors():
    x = np.zeros((5, 3))
    msg = "before and after must hold the same networks (at least 2); got 2 and 1."
    with pytest.raises(ValueError, match=re.escape(msg)):
        plots.plot_srm_trajectories([x, x], [x])
    msg = "Every response must be (n_stimuli, n_units) with 5 stimuli; input 1 has shape (4, 3)."
    with pytest.raises(ValueError, match=re.escape(msg)):
        plots.plot_srm_trajectories([x, x[:4]], [x, x])


def test_plot_similarity_vs_performance_fits_a_line_with_a_band():
    x = np.linspace(0, 1, 12)
    table = pd.DataFrame({"error_consistency": x, "rep": 2 * x + 1,
                          "pair": ["same", "other"] * 6})
    fig = plots.plot_similarity_vs_performance(table, x="error_consistency", y="rep",
                                               hue="pair", n_resamples=100)
    ax = fig.axes[0]
    (fit,) = ax.lines
    assert_allclose(fit.get_ydata(), 2 * fit.get_xdata() + 1, atol=1e-10)
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts == ["least squares, Spearman ρ = 1.00 (n = 12)", "same", "other",
                     "95 % bootstrap CI"]
    assert ax.get_xlabel() == "error consistency"


def _bootstrap_band(fig):
    (band,) = [c for c in fig.axes[0].collections if c.get_label().endswith("bootstrap CI")]
    return band.get_paths()[0].vertices


@pytest.fixture
def pairs_table():
    rng = np.random.default_rng(0)
    x = rng.random(15)
    return pd.DataFrame({"performance_similarity": x,
                         "representational_similarity": x + rng.normal(scale=0.2, size=15)})


def test_plot_similarity_vs_performance_n_boot_is_a_deprecated_name_of_n_resamples(pairs_table):
    new = plots.plot_similarity_vs_performance(pairs_table, n_resamples=50)
    msg = ("plot_similarity_vs_performance(n_boot=...) is deprecated: write "
           "plot_similarity_vs_performance(n_resamples=...)")
    with pytest.warns(DeprecationWarning, match=re.escape(msg)) as record:
        old = plots.plot_similarity_vs_performance(pairs_table, n_boot=50)
    assert record[0].filename == __file__  # points at the caller, not at deeprsa
    assert_array_equal(_bootstrap_band(old), _bootstrap_band(new))
    # The count is used: another number of resamples gives another band.
    other = plots.plot_similarity_vs_performance(pairs_table, n_resamples=51)
    assert not np.array_equal(_bootstrap_band(other), _bootstrap_band(new))


def test_plot_similarity_vs_performance_refuses_both_names(pairs_table):
    msg = ("plot_similarity_vs_performance() got both n_boot= and n_resamples=; n_boot is the "
           "deprecated name of n_resamples: give n_resamples only.")
    with pytest.raises(TypeError, match=re.escape(msg)):
        plots.plot_similarity_vs_performance(pairs_table, n_resamples=50, n_boot=50)


def test_plot_similarity_vs_performance_ci_is_a_deprecated_name_of_confidence(pairs_table):
    new = plots.plot_similarity_vs_performance(pairs_table, n_resamples=50, confidence=0.8)
    with pytest.warns(DeprecationWarning, match=re.escape("write plot_similarity_vs_"
                                                          "performance(confidence=...)")):
        old = plots.plot_similarity_vs_performance(pairs_table, n_resamples=50, ci=0.8)
    assert_array_equal(_bootstrap_band(old), _bootstrap_band(new))
    wider = plots.plot_similarity_vs_performance(pairs_table, n_resamples=50, confidence=0.99)
    assert not np.array_equal(_bootstrap_band(wider), _bootstrap_band(new))


def test_plot_similarity_vs_performance_names_missing_columns():
    table = pd.DataFrame({"error_consistency": [1, 2, 3], "rep": [1, 2, 3]})
    msg = ("table has no column 'error_consistncy' for x. Did you mean 'error_consistency'? "
           "Columns: ['error_consistency', 'rep'].")
    with pytest.raises(ValueError, match=re.escape(msg)):
        plots.plot_similarity_vs_performance(table, x="error_consistncy", y="rep")


@pytest.mark.parametrize("names, expected", [
    (["features.5", "features.10", "classifier.1"], ["features.5", "features.10", "classifier.1"]),
    (["encoder.layers.encoder_layer_1", "heads"], ["encoder_layer_1", "heads"]),
    (["features.2", "classifier.2"], ["features.2", "classifier.2"]),
    (["block1.conv_a", "block2.conv_a", "logits"], ["block1.conv_a", "block2.conv_a", "logits"]),
], ids=["no-bare-index", "suffix", "clash", "clash-deeper"])
def test_short_layer_names_stay_distinct_and_meaningful(names, expected):
    from deeprsa.plots._base import _short_names

    assert _short_names(names) == expected


# ---------------------------------------------------------------- many layers, placement


def _overlap(a, b):
    return (min(a[2], b[2]) - max(a[0], b[0])) > 0.01 and (min(a[3], b[3]) - max(a[1], b[1])) > 0.01


def _walks(n_models=3, n_layers=52, *, seed=0):
    """Trajectories of models through depth that all start at one place, as layer MDS do."""
    rng = np.random.default_rng(seed)
    X = []
    for _ in range(n_models):
        walk = np.cumsum(rng.normal(size=(n_layers, 4)) * 0.3, axis=0)
        X.append(walk - walk[0])
    X = np.vstack(X)
    return squareform(pdist(X))


def test_place_boxes_finds_free_spots_beside_crowded_points():
    from deeprsa.plots._placement import place_boxes

    rng = np.random.default_rng(0)
    points = rng.normal(size=(40, 2)) * 30 + 200
    sizes = np.tile([22.0, 8.0], (40, 1))
    centres, free = place_boxes(points, sizes, points=points, point_radius=2.5,
                                bounds=(0, 0, 400, 400))
    boxes = np.column_stack([centres - sizes / 2, centres + sizes / 2])
    assert free.all()
    for i in range(40):
        for j in range(i):
            assert not _overlap(boxes[i], boxes[j])
        near = np.abs(points - centres[i]) < (sizes[i] / 2 + 2.5)
        assert not near.all(axis=1).any()  # no box covers a point, its own included


def test_layer_labels_of_many_models_overlap_neither_each_other_nor_the_points():
    from deeprsa.plots._placement import boxes_of, display_points

    D = _walks()
    names = [f"layer{i}" for i in range(52)] * 3
    groups = [f"ResNet-18 s{m}" for m in range(3) for _ in range(52)]
    fig = plots.plot_mds(D, labels=names, groups=groups, families=["resnet"] * 156,
                         trajectories=True, annotate="all")
    ax = fig.axes[0]
    fig.draw_without_rendering()
    labels = [t for t in ax.texts if t.get_gid() == plots.GID_LABEL]
    assert len(labels) > 100  # near-identical names at one place are named once
    boxes = boxes_of(labels)
    for i in range(len(boxes)):
        for j in range(i):
            assert not _overlap(boxes[i], boxes[j]), (labels[i].get_text(),
                                                      labels[j].get_text())
    points = display_points(ax, ax.collections[0].get_offsets())
    inside = [(b[0] < p[0] < b[2]) and (b[1] < p[1] < b[3]) for b in boxes for p in points]
    assert sum(inside) <= 0.02 * len(boxes)  # the few a crowded map cannot avoid


def test_layer_mds_shades_one_colour_family_per_architecture():
    D = _walks(4, 5)
    groups = [g for g in ("a_s0", "a_s1", "b_s0", "b_s1") for _ in range(5)]
    families = [g[0] for g in groups]
    fig = plots.plot_mds(D, groups=groups, families=families, trajectories=True,
                         linestyles={"b_s1": "--"})
    lines = {line.get_label(): line for line in fig.axes[0].lines
             if line.get_gid() == plots.GID_TRAJECTORY}
    colours = {g: matplotlib.colors.to_rgb(line.get_color()) for g, line in lines.items()}
    assert len(set(colours.values())) == 4  # a shade per seed
    blue, orange = matplotlib.colormaps["Blues"], matplotlib.colormaps["Oranges"]
    assert_allclose(colours["a_s0"], blue(0.95)[:3]) and assert_allclose(colours["a_s1"],
                                                                         blue(0.5)[:3])
    assert_allclose(colours["b_s0"], orange(0.95)[:3])
    assert lines["b_s1"].get_linestyle() == "--" and lines["a_s0"].get_linestyle() == "-"
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend[:4] == ["a_s0", "a_s1", "b_s0", "b_s1"]


def test_first_layers_that_coincide_are_spread_apart():
    from deeprsa.plots._placement import display_points

    D = _walks(3, 6)
    fig = plots.plot_mds(D, groups=[g for g in "abc" for _ in range(6)], trajectories=True)
    ax = fig.axes[0]
    (starts,) = [c for c in ax.collections if c.get_gid() == plots.GID_START]
    squares = display_points(ax, starts.get_offsets())
    gaps = pdist(squares)
    assert gaps.min() >= 5.0  # points apart, though the three first layers coincide


def test_long_layer_names_are_shortened_consistently_with_a_key():
    D = _walks(1, 4)
    labels = ["conv_proj", "encoder.layers.encoder_layer_1", "encoder.layers.encoder_layer_11",
              "heads"]
    result = RDM(D, [f"vit|{layer}" for layer in labels], {"order": 2, "measure": "spearman"})
    fig = plots.plot_mds(result, trajectories=True)
    texts = sorted(t.get_text() for t in fig.axes[0].texts if t.get_gid() == plots.GID_LABEL)
    assert texts == ["conv_proj", "encoder_layer_1", "encoder_layer_11", "heads"]
    (key,) = [t for t in fig.texts if t.get_gid() == plots.GID_KEY]
    assert key.get_text().replace("\n", " ") == (
        "Names shortened: encoder_layer_1 = encoder.layers.encoder_layer_1; encoder_layer_11 "
        "= encoder.layers.encoder_layer_11.")


@pytest.mark.parametrize(("names", "expected"), [
    (["conv1", "encoder.layers.encoder_layer_11"], ["conv1", "…encoder_layer_11"]),
    (["a_very_long_name_of_a_layer_1", "a_very_long_name_of_a_layer_2"],
     ["…name_of_a_layer_1", "…name_of_a_layer_2"]),
], ids=["tail", "distinct-tails"])
def test_abbreviations_keep_names_apart(names, expected):
    from deeprsa.plots._base import _abbreviate

    assert _abbreviate(names) == expected
    assert _abbreviate(names) == _abbreviate(list(names))  # the same name, the same form


def test_single_model_mds_joins_layers_in_depth_order_without_pairwise_lines():
    result = RDM(_walks(1, 12), [f"net|layer{i}" for i in range(12)],
                 {"order": 2, "measure": "spearman"})
    fig = plots.plot_mds(result, trajectories=True)
    ax = fig.axes[0]
    assert not [c for c in ax.collections if c.get_gid() == plots.GID_EDGE]
    (line,) = [line for line in ax.lines if line.get_gid() == plots.GID_TRAJECTORY]
    assert len(line.get_xdata()) == 12
    assert len([t for t in ax.texts if t.get_gid() == plots.GID_LABEL]) == 12


def test_thumbnails_sit_beside_their_points_without_overlaps_in_the_grid_polarity():
    from deeprsa.plots._placement import boxes_of, display_points

    classes = [c for c in range(5) for _ in range(8)]
    rdm, _ = _blocky_rdm(classes)
    images = [np.eye(8) * 0.9 if i % 2 == 0 else None for i in range(40)]
    fig = plots.plot_mds(rdm, groups=classes, images=images)
    ax = fig.axes[0]
    fig.draw_without_rendering()
    thumbnails = [a for a in ax.artists if a.get_gid() == plots.GID_THUMBNAIL]
    boxes = boxes_of(thumbnails)
    for i in range(len(boxes)):
        for j in range(i):
            assert not _overlap(boxes[i], boxes[j])
    points = display_points(ax, ax.collections[0].get_offsets())
    for box, own in zip(boxes, points[::2], strict=True):
        assert not (box[0] < own[0] < box[2] and box[1] < own[1] < box[3])
    picture = thumbnails[0].offsetbox.get_children()[0]
    assert picture.get_cmap().name == "gray"  # white ink on black, as plot_images shows it
    assert (picture.norm.vmin, picture.norm.vmax) == (0.0, 1.0)


@pytest.mark.parametrize("percentile", [False, True], ids=["raw", "percentile"])
def test_a_constant_rdm_is_a_flat_panel_without_a_colour_bar(percentile):
    rdm = RDM(1 - np.eye(6), [f"s{i}" for i in range(6)],
              {"model": "vit", "layer": "heads", "measure": "correlation"})
    fig = plots.plot_rdm(rdm, labels=[0, 0, 1, 1, 2, 2], percentile=percentile)
    assert len(fig.axes) == 1  # no colour bar suggests variation
    ax = fig.axes[0]
    (text,) = [t for t in ax.texts if t.get_gid() == plots.GID_CONSTANT]
    assert text.get_text() == "constant: no structure\n(every pair 1)"
    assert np.ptp(ax.images[0].get_array()) == 0  # flat, no dark diagonal


def test_plot_rdms_marks_the_constant_layer_and_keeps_the_scale_of_the_others():
    rdms = _layer_rdms(3)
    flat = RDM(np.full((9, 9), 0.5) - 0.5 * np.eye(9), rdms[0].stimulus_ids,
               {"model": "net", "layer": "head", "measure": "correlation"})
    fig = plots.plot_rdms([*rdms, flat], labels=[0, 0, 0, 1, 1, 1, 2, 2, 2], percentile=False)
    panels = fig.axes[:4]
    assert [bool([t for t in ax.texts if t.get_gid() == plots.GID_CONSTANT])
            for ax in panels] == [False, False, False, True]
    vmax = max(r.matrix.max() for r in rdms)
    assert_allclose(panels[0].images[0].get_clim(), (0.0, vmax))


def test_multi_model_rdm_of_156_layers_has_model_bands_and_legible_layer_ticks():
    n = 52
    D = _walks(3, n)
    layers = [f"layer{i}" for i in range(n)] * 3
    models = [f"ResNet-18 s{m}" for m in range(3) for _ in range(n)]
    fig = plots.plot_model_rdm(D, labels=layers, groups=models)
    ax = fig.axes[0]
    bands = [line for line in ax.lines if line.get_gid() == plots.GID_MODEL_BAND]
    assert len(bands) == 6  # one along the top and one along the left of each model
    ticks = ax.get_yticks()
    pitch = 72 * ax.get_position().height * fig.get_figheight() / (3 * n)  # points per row
    assert np.diff(ticks).min() * pitch >= 6.0  # names never closer than 6 points
    assert set(ticks) >= {0, n, 2 * n}  # each model's first layer is named
    names = [t.get_text() for t in ax.get_yticklabels()]
    assert names[:3] == ["layer0", "layer3", "layer6"]
    side = [a for a in ax.child_axes if a.get_yticklabels()]
    assert [t.get_text() for t in side[0].get_yticklabels()] == sorted(set(models))


def test_model_rdm_view_holds_every_layer_for_the_interactive_report():
    from deeprsa.plots.second_order import model_rdm_view

    result = compare_rdms(_two_models(), method="spearman")
    view = model_rdm_view(result)
    assert view["models"] == ["alexnet"] * 3 + ["vgg"] * 2
    assert view["layers"] == ["conv1", "conv2", "conv3", "conv1", "conv2"]
    assert view["symmetric"]
    assert_allclose(view["values"], np.round(1 - result.matrix, 4)[np.triu_indices(5)],
                    atol=1e-12)
    assert view["label"] == "1 − Spearman ρ between RDMs"
    assert len(view["colormap"]) == 64 and view["colormap"][0] == "#440154"


def test_srm_trajectories_put_the_random_twins_in_a_row_beside_the_trained():
    rng = np.random.default_rng(0)
    shared = rng.normal(size=(30, 3))
    trained = [shared @ rng.normal(size=(3, 10)) for _ in range(3)]
    random = [rng.normal(size=(30, 10)) for _ in range(3)]
    fig = plots.plot_srm_trajectories({"trained": trained, "random weights": random},
                                      {"trained": [shared] * 3, "random weights": random},
                                      labels=np.arange(30) % 5,
                                      names={"trained": ["a", "b", "c"],
                                             "random weights": ["a'", "b'", "c'"]})
    rows = fig.subfigs
    assert [row._suptitle.get_text() for row in rows] == ["trained", "random weights"]
    for row, names in zip(rows, (["a", "b", "c"], ["a'", "b'", "c'"]), strict=True):
        left, right = row.axes
        assert left.get_title() == "before alignment (native spaces)"
        lines = [line.get_label() for line in right.lines if line.get_gid() ==
                 plots.GID_TRAJECTORY]
        assert lines == names
    msg = "before and after must have the same rows; got ['trained'] and ['random']."
    with pytest.raises(ValueError, match=re.escape(msg)):
        plots.plot_srm_trajectories({"trained": trained}, {"random": random})
