"""Stacks of RDMs: groups (by), entries (averaged conditions), unit subsets, label permutations.

The pytorch_feature_analysis workflow: 4 objects in 4 colours (2 presentations each), one
RDM over the colours per object, then meta-RDMs across objects.
"""

import itertools
import json
import re

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from deeprsa import RDM, Store, compare_rdms, compute_meta_rdms, compute_rdm, compute_rdms
from deeprsa.rdm import RDMs
from deeprsa.rdm.units import list_unit_rules, unit_sets
from deeprsa.store import content_key

OBJECTS = ["cup", "car", "dog", "hat"]
COLOURS = ["000", "090", "180", "270"]
WIDTHS = {"conv": 24, "fc": 10}


def _ids_and_metadata():
    rows = [(o, c, r) for o in OBJECTS for c in COLOURS for r in range(2)]
    ids = [f"{o}_{c}_{r}" for o, c, r in rows]
    return ids, pd.DataFrame(rows, columns=["obj", "color", "rep"], index=ids)


@pytest.fixture
def stacked(tmp_path):
    """A store with two layers of random activations of 32 stimuli, and their metadata."""
    ids, meta = _ids_and_metadata()
    rng = np.random.default_rng(7)
    store = Store(tmp_path / "store")
    key = store.add_stimuli(ids, content_key({"ids": ids}))
    X = {}
    for layer, width in WIDTHS.items():
        X[layer] = rng.standard_normal((len(ids), width)).astype(np.float32)
        store.write("activations", {"model": "net", "layer": layer, "reduction": {"name": "flatten"},
                                    "stimuli": key, "dtype": "float32"}, X[layer])
    return store, meta, X


def _mean_by(X, meta, column, rows=None):
    """Mean pattern per value of ``column`` (in order of first appearance), by hand."""
    meta = meta if rows is None else meta[rows]
    index = np.flatnonzero(rows) if rows is not None else np.arange(len(meta))
    labels = list(dict.fromkeys(meta[column].astype(str)))
    values = meta[column].astype(str).to_numpy()
    return np.stack([X[index[values == lb]].astype(np.float64).mean(axis=0)
                     for lb in labels]), labels


# ------------------------------------------------ entries: averaged conditions


@pytest.mark.parametrize("measure", ["correlation", "euclidean", "spearman"])
def test_entry_rdm_equals_averaging_by_hand_then_compute_rdm(stacked, measure):
    store, meta, X = stacked
    stack = compute_rdms(store, stimuli=meta, entries="color", layer="conv", measure=measure,
                         dtype="float64", progress=False)
    means, labels = _mean_by(X["conv"], meta, "color")
    expected = compute_rdm(means, measure=measure, stimulus_ids=labels, dtype="float64")
    assert len(stack) == 1 and stack[0].stimulus_ids == tuple(COLOURS)
    # Sums over tiles vs numpy's mean: the same values up to float64 rounding.
    assert_allclose(stack[0].matrix, expected.matrix, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(("method", "measure", "params"), [
    ("correlation", "correlation", None),
    ("euclidean", "sqeuclidean", {"per_feature": True}),  # rsatoolbox: squared / n_channels
], ids=["correlation", "euclidean"])
def test_entry_rdm_matches_rsatoolbox_descriptor_averaging(stacked, method, measure, params):
    rsatoolbox = pytest.importorskip("rsatoolbox")
    store, meta, X = stacked
    data = rsatoolbox.data.Dataset(X["fc"].astype(np.float64),
                                   obs_descriptors={"color": list(meta["color"])})
    ref = rsatoolbox.rdm.calc_rdm(data, method=method, descriptor="color")
    labels = [str(v) for v in ref.pattern_descriptors["color"]]  # sorted by rsatoolbox
    ours = compute_rdms(store, stimuli=meta, entries="color", layer="fc", measure=measure,
                        params=params, dtype="float64", progress=False)[0].subset(labels)
    # Agreement in float64 to rounding (different but exact formulas).
    assert_allclose(ours.vector(), ref.dissimilarities[0], rtol=1e-9, atol=1e-12)


def test_entries_of_several_columns_join_their_values(stacked):
    store, meta, _ = stacked
    stack = compute_rdms(store, stimuli=meta, entries=["color", "rep"], layer="fc",
                         progress=False)
    assert stack[0].stimulus_ids[:3] == ("000|0", "000|1", "090|0")
    assert stack.metadata["entries"][0] == '["color", "rep"]'


def test_a_combination_entry_is_the_mean_pattern_of_its_entries(stacked):
    store, meta, X = stacked
    stack = compute_rdms(store, stimuli=meta, entries="color", layer="fc", dtype="float64",
                         combine={"000+180": ["000", "180"]}, progress=False)
    means, labels = _mean_by(X["fc"], meta, "color")
    patterns = np.vstack([means, (means[0] + means[2]) / 2])
    expected = compute_rdm(patterns, stimulus_ids=labels + ["000+180"], dtype="float64")
    assert stack[0].stimulus_ids == (*COLOURS, "000+180")
    assert_allclose(stack[0].matrix, expected.matrix, rtol=1e-12, atol=1e-14)
    assert stack[0].provenance["combine"] == {"000+180": ["000", "180"]}


# ------------------------------------------------ stacks: one RDM per group


def test_a_stack_equals_each_group_computed_alone(stacked):
    store, meta, X = stacked
    stack = compute_rdms(store, stimuli=meta, by="obj", entries="color",
                         measure=["correlation", "euclidean"], progress=False)
    table = stack.metadata
    assert len(stack) == 2 * 2 * 4  # layers x measures x objects
    assert list(table["obj"][:4]) == OBJECTS
    for obj in OBJECTS:
        alone = compute_rdms(store, stimuli=meta[meta["obj"] == obj], entries="color",
                             measure=["correlation", "euclidean"], progress=False)
        rows = np.flatnonzero(table["obj"] == obj)
        for i, rdm in zip(rows, alone, strict=True):
            assert (stack[i].provenance["layer"], stack[i].provenance["measure"]) == \
                (rdm.provenance["layer"], rdm.provenance["measure"])
            assert_array_equal(stack[i].matrix, rdm.matrix)  # the same computation
        # ... and the RDM of the group's averaged patterns, by hand.
        means, labels = _mean_by(X["fc"], meta, "color", rows=(meta["obj"] == obj).to_numpy())
        expected = compute_rdm(means, stimulus_ids=labels)
        got = stack[int(rows[2])]  # fc, correlation
        assert got.provenance["layer"] == "fc" and got.provenance["measure"] == "correlation"
        assert_allclose(got.matrix, expected.matrix, rtol=0, atol=1e-6)  # float32


def test_stack_metadata_is_tidy_and_records_where_each_rdm_came_from(stacked):
    store, meta, _ = stacked
    stack = compute_rdms(store, stimuli=meta, by="obj", entries="color", layer="fc",
                         n_permutations=2, seed=0, progress=False)
    table = stack.metadata
    for column in ("obj", "model", "layer", "measure", "params", "unit_set", "units_hash",
                   "permutation", "entries", "entry_labels", "stimuli", "stimulus_set"):
        assert column in table.columns, column
    assert list(table["permutation"][:3]) == [0, 1, 2]
    assert json.loads(table["entry_labels"][0]) == COLOURS
    assert table["stimulus_set"].nunique() == 1
    assert table["stimulus_set"][0] == store.select("activations")["stimuli"][0]
    # One key per group's rows, none the stimulus set's own key.
    assert table.groupby("obj")["stimuli"].nunique().eq(1).all()
    assert table["stimuli"].nunique() == 4
    assert not table["stimuli"].isin(table["stimulus_set"]).any()
    first = stack[0].provenance
    assert (first["obj"], first["by"], first["entries"], first["unit_set"]) == \
        ("cup", ["obj"], ["color"], "all")


def test_by_without_entries_gives_each_group_its_own_stimuli(stacked):
    store, meta, X = stacked
    stack = compute_rdms(store, stimuli=meta, by="obj", layer="fc", progress=False)
    cups = [s for s in meta.index if s.startswith("cup")]
    assert stack[0].stimulus_ids == tuple(cups)
    expected = compute_rdm(X["fc"][:8], stimulus_ids=cups)
    assert_array_equal(stack[0].matrix, expected.matrix)
    msg = "RDM 1 has other stimulus ids than RDM 0"
    with pytest.raises(ValueError, match=re.escape(msg)):
        stack.vectors()
    assert repr(stack) == "RDMs(4 RDMs over different rows)"
    assert stack[[0]].vectors().shape == (1, 28)


def test_a_stack_reads_each_layer_once_and_is_found_again(stacked, monkeypatch):
    store, meta, _ = stacked
    opened = []
    original = Store.array

    def counting(self, key):
        opened.append(key)
        return original(self, key)

    monkeypatch.setattr(Store, "array", counting)
    options = dict(stimuli=meta, by="obj", entries="color", measure=["correlation", "cosine"],
                   units=["all", "units:0-4", {"odd": [1, 3, 5, 7, 9]}], progress=False)
    layers = set(store.select("activations")["key"])
    first = compute_rdms(store, **options)
    assert sorted(k for k in opened if k in layers) == sorted(layers)  # one read per layer
    assert len(first) == 2 * 2 * 3 * 4
    opened.clear()
    again = compute_rdms(store, **options)
    assert not layers & set(opened)  # every observed RDM is in the store
    assert_array_equal(np.stack([r.matrix for r in again]), np.stack([r.matrix for r in first]))
    stacks = store.select("rdm_stacks")
    assert len(stacks) == 4 and set(stacks["measure"]) == {"correlation", "cosine"}


def test_a_stack_leaves_the_plain_rdms_and_their_keys_alone(stacked):
    store, meta, _ = stacked
    plain = compute_rdms(store, progress=False)
    stack = compute_rdms(store, stimuli=meta, by="obj", entries="color", progress=False)
    assert list(store.select("rdms")["key"]) == list(plain.metadata["key"])
    again = compute_rdms(store, progress=False)  # still one RDM per layer, same keys
    assert list(again.metadata["key"]) == list(plain.metadata["key"])
    # A stack's RDM saved on its own gets its own key.
    key = stack[0].save(store)
    assert key not in set(plain.metadata["key"])
    loaded = RDM.load(store, key)
    assert loaded.stimulus_ids == tuple(COLOURS)
    assert_array_equal(loaded.matrix, stack[0].matrix)


def test_a_stack_over_every_stimulus_with_only_permutations_is_keyed_apart(stacked):
    store, _, X = stacked
    stack = compute_rdms(store, layer="fc", n_permutations=1, seed=0, progress=False)
    plain = compute_rdm(store, model="net", layer="fc")
    assert_array_equal(stack[0].matrix, plain.matrix)
    assert stack[0].provenance["stimuli"] != plain.provenance["stimuli"]
    assert stack[0].save(store) != plain.provenance["key"]


# ------------------------------------------------ permutations


def test_permutation_zero_is_the_observed_rdm_and_the_others_relabel_it(stacked):
    store, meta, _ = stacked
    observed = compute_rdms(store, stimuli=meta, by="obj", entries="color", progress=False)
    stack = compute_rdms(store, stimuli=meta, by="obj", entries="color", n_permutations=5,
                         seed=3, progress=False)
    table = stack.metadata
    zero = np.flatnonzero(table["permutation"] == 0)
    assert len(zero) == len(observed)
    for i, rdm in zip(zero, observed, strict=True):
        assert_array_equal(stack[i].matrix, rdm.matrix)
    orders = [np.array(p) for p in itertools.permutations(range(4))]
    moved = 0
    for i in np.flatnonzero(table["permutation"] > 0):
        base = stack[int(zero[zero <= i][-1])]
        M = stack[int(i)].matrix
        # Rows and columns moved together: M = base[p][:, p] for one permutation p.
        found = [p for p in orders if np.array_equal(M, base.matrix[np.ix_(p, p)])]
        assert found, f"RDM {i} is not a relabelling of its observed RDM"
        assert stack[int(i)].stimulus_ids == base.stimulus_ids
        moved += not np.array_equal(M, base.matrix)
    assert moved > 0


def test_permutations_are_seeded_and_shared_by_every_layer(stacked):
    store, meta, _ = stacked
    kw = dict(stimuli=meta, by="obj", entries="color", n_permutations=4, progress=False)
    a = compute_rdms(store, seed=1, **kw)
    b = compute_rdms(store, seed=1, layer="fc", **kw)
    fc = np.flatnonzero(a.metadata["layer"] == "fc")
    assert_array_equal(np.stack([a[int(i)].matrix for i in fc]), np.stack([r.matrix for r in b]))
    c = compute_rdms(store, seed=2, **kw)
    assert not np.array_equal(a.vectors(), c.vectors())


# ------------------------------------------------ unit subsets


def test_a_unit_subset_equals_slicing_the_activations(stacked):
    store, meta, X = stacked
    odd = [1, 3, 5, 7, 9]
    stack = compute_rdms(store, layer="fc", units=["units:0-3,8", {"odd": odd}], progress=False)
    ids = tuple(meta.index)
    assert list(stack.metadata["unit_set"]) == ["units:0-3,8", "odd"]
    for rdm, columns in zip(stack, ([0, 1, 2, 3, 8], odd), strict=True):
        expected = compute_rdm(X["fc"][:, columns], stimulus_ids=ids)
        assert_array_equal(rdm.matrix, expected.matrix)
    hashes = stack.metadata["units_hash"]
    assert hashes.nunique() == 2 and "all" not in set(hashes)


def test_channel_rules_take_blocks_of_a_flattened_layer(stacked):
    store, meta, X = stacked
    stack = compute_rdms(store, layer="conv", units="channels:1-2/6", stimuli=meta,
                         entries="color", progress=False)
    means, labels = _mean_by(X["conv"][:, 4:12], meta, "color")
    assert_allclose(stack[0].matrix, compute_rdm(means, stimulus_ids=labels).matrix, atol=1e-6)


def test_unit_subsets_per_layer_and_random_draws(stacked):
    store, _, _ = stacked
    units = [{"conv": {"early": [0, 1, 2]}, "fc": {"late": [4, 5]}}, "random_units:3x2"]
    stack = compute_rdms(store, units=units, seed=0, progress=False)
    table = stack.metadata
    assert list(zip(table["layer"], table["unit_set"], strict=True)) == [
        ("conv", "early"), ("conv", "random_units:3x2#0"), ("conv", "random_units:3x2#1"),
        ("fc", "late"), ("fc", "random_units:3x2#0"), ("fc", "random_units:3x2#1")]
    again = compute_rdms(store, units=units, seed=0, progress=False).metadata
    assert list(again["units_hash"]) == list(table["units_hash"])
    assert table["units_hash"].nunique() == 6


@pytest.mark.parametrize(("units", "msg"), [
    ("units:0-40", "Unit subset 'units:0-40' of layer 'fc' holds index 10, outside the layer's "
                   "10 units (0 to 9)."),
    ("channels:0-1", "Unit rule 'channels:0-1' for layer 'fc': the layer's reduction 'flatten' "
                     "keeps channels x positions, so its columns are not channels; give the "
                     "number of channels, e.g. 'channels:0-1/64', or extract with "
                     "reduction='spatial_mean' (one feature per channel)."),
    ("chanels:0-1", "Unknown unit rule 'chanels'. Did you mean 'channels'?"),
    ("random_units:20", "Unit rule 'random_units:20' for layer 'fc': cannot draw 20 of the "
                        "layer's 10 units."),
    ({"twice": [1, 1]}, "Unit subset 'twice' of layer 'fc' repeats an index."),
], ids=["out-of-range", "channels-of-flatten", "typo", "too-many", "repeated"])
def test_bad_unit_subsets_say_what_is_wrong(units, msg):
    with pytest.raises(ValueError, match=re.escape(msg)):
        unit_sets(units, layer="fc", n_units=10, reduction="flatten", seed=0)


def test_unit_rules_are_registered_and_listed_by_a_command():
    from click.testing import CliRunner

    from deeprsa.cli import cli

    assert list_unit_rules() == ["channels", "random_channels", "random_units", "units"]
    result = CliRunner().invoke(cli, ["unit-rules"])
    assert result.exit_code == 0, result.output
    assert [line.split()[0] for line in result.output.splitlines()[1:]] == list_unit_rules()


# ------------------------------------------------ comparing RDMs over entries


def test_rdms_over_different_stimuli_with_the_same_entry_labels_compare(stacked):
    store, meta, _ = stacked
    stack = compute_rdms(store, stimuli=meta, by="obj", entries="color", layer="fc",
                         progress=False)
    result = compare_rdms(stack, method="pearson")
    vectors = np.stack([r.vector() for r in stack]).astype(np.float64)
    assert_allclose(result.matrix, np.corrcoef(vectors), rtol=1e-6)  # float32 RDMs
    meta_rdms = compute_meta_rdms(stack, entry_variables=["obj"],
                                  grouping_variables=["model", "layer"])
    rdm = meta_rdms["rdm"][0]
    assert rdm.stimulus_ids == tuple(OBJECTS)
    assert_allclose(rdm.matrix, 1 - compare_rdms(stack).matrix, atol=1e-12)
    row = meta_rdms.iloc[0]
    assert row["entries_sub"] == '["color"]' and row["measure_sub"] == "correlation"


def test_rdms_whose_entry_labels_differ_are_refused_naming_the_labels(stacked):
    store, meta, _ = stacked
    keep = ~((meta["obj"] == "hat") & (meta["color"] == "270"))
    stack = compute_rdms(store, stimuli=meta[keep], by="obj", entries="color", layer="fc",
                         progress=False)
    msg = ("RDMs compare only over the same entry labels: a[3] (obj='hat', model='net', "
           "layer='fc', measure='correlation') and a[0] (obj='cup', model='net', layer='fc', "
           "measure='correlation') differ; 0 label(s) only in a[3]: []; 1 only in a[0]: "
           "['270']. Compare RDMs whose entries have the same labels, or restrict both to the "
           "shared ones with rdm.subset(labels).")
    with pytest.raises(ValueError, match=re.escape(msg)):
        compare_rdms(stack)
    msg = ("RDMs compare only over the same entry labels: in the group {'layer': 'fc'} the "
           "RDMs of {'obj': 'hat'} and {'obj': 'cup'} differ; 0 label(s) only in "
           "{'obj': 'hat'}: []; 1 only in {'obj': 'cup'}: ['270'].")
    with pytest.raises(ValueError, match=re.escape(msg)):
        compute_meta_rdms(stack, entry_variables=["obj"], grouping_variables=["layer"])
    # With the shared labels, they compare.
    shared = [r.subset(COLOURS[:3]) for r in stack]
    assert compare_rdms(shared).matrix.shape == (4, 4)


def test_entry_labels_in_another_order_are_refused():
    a = RDM.from_vector([1, 2, 3, 4, 5, 6], COLOURS, {"entries": ["color"], "layer": "fc"})
    b = RDM.from_vector([1, 2, 3, 4, 5, 6], COLOURS[::-1], {"entries": ["color"], "layer": "fc"})
    msg = ("RDMs compare only over the same entry labels in the same order: b[0] (layer='fc') "
           "and a[0] (layer='fc') hold the same 4 entries in another order (first difference "
           "at position 0: '270' vs '000').")
    with pytest.raises(ValueError, match=re.escape(msg)):
        compare_rdms(a, b)


def test_meta_rdms_across_permutations_give_a_null_distribution(stacked):
    store, meta, _ = stacked
    stack = compute_rdms(store, stimuli=meta, by="obj", entries="color", layer="fc",
                         n_permutations=3, seed=0, progress=False)
    metas = compute_meta_rdms(stack, entry_variables=["obj"],
                              grouping_variables=["layer", "permutation"])
    assert list(metas["permutation"]) == [0, 1, 2, 3]
    observed = compute_meta_rdms(stack[(stack.metadata["permutation"] == 0).to_numpy()],
                                 entry_variables=["obj"], grouping_variables=["layer"])
    assert_array_equal(metas["rdm"][0].matrix, observed["rdm"][0].matrix)


# ------------------------------------------------ errors at the boundary


@pytest.mark.parametrize(("kwargs", "error", "msg"), [
    (dict(by="obj"), ValueError,
     "['obj'] name metadata columns; pass stimuli= (the StimulusSet the activations were "
     "extracted from, or a DataFrame indexed by stimulus id) to read them from."),
    (dict(by="ob", stimuli="meta"), KeyError, "No metadata column 'ob'. Did you mean 'obj'?"),
    (dict(by="obj", entries="obj", stimuli="meta"), ValueError,
     "'obj' is both a by column and an entries column"),
    (dict(by=["obj", "color", "rep"], stimuli="meta"), ValueError,
     "The group obj='cup', color='000', rep=0 has only one entry (['cup_000_0']); an RDM needs "
     "at least two. Group by fewer columns, or use other entries."),
    (dict(entries="color", combine={"mix": ["000", "045"]}, stimuli="meta"), KeyError,
     "The combination 'mix' averages entry '045', which the group all stimuli does not have."),
    (dict(n_permutations=-1), ValueError, "n_permutations must be an int >= 0"),
    (dict(entries="color", measure=["correlation", "corelation"], stimuli="meta"), ValueError,
     "Unknown measure 'corelation'. Did you mean 'correlation'?"),
], ids=["no-metadata", "typo", "both", "one-entry", "combination", "negative", "measure"])
def test_stack_errors_name_the_culprit(stacked, kwargs, error, msg):
    store, meta, _ = stacked
    if kwargs.get("stimuli") == "meta":
        kwargs = {**kwargs, "stimuli": meta}
    with pytest.raises(error, match=re.escape(msg)):
        compute_rdms(store, progress=False, **kwargs)


def test_two_entries_and_their_combination_make_an_rdm(stacked):
    # Next to the one-entry error: grouped by object and colour, the two presentations
    # and their mean are three entries.
    store, meta, X = stacked
    stack = compute_rdms(store, stimuli=meta, by=["obj", "color"], entries="rep", layer="fc",
                         combine={"both": ["0", "1"]}, dtype="float64", progress=False)
    assert len(stack) == 16 and stack[0].stimulus_ids == ("0", "1", "both")
    patterns = np.vstack([X["fc"][:2], X["fc"][:2].astype(np.float64).mean(axis=0)])
    expected = compute_rdm(patterns, stimulus_ids=["0", "1", "both"], dtype="float64")
    assert_allclose(stack[0].matrix, expected.matrix, rtol=1e-12, atol=1e-14)


def test_a_by_column_may_not_shadow_a_field_of_the_rdm(stacked):
    store, meta, _ = stacked
    msg = "The by column 'layer' has the name of a field every RDM of a stack records"
    with pytest.raises(ValueError, match=re.escape(msg)):
        compute_rdms(store, stimuli=meta.rename(columns={"obj": "layer"}), by="layer",
                     progress=False)


def test_metadata_of_other_stimuli_is_refused(stacked):
    store, meta, _ = stacked
    other = meta.rename(index=lambda s: s + "x")
    msg = "32 stimuli of stimuli= are not in the activations, e.g. ['cup_000_0x'"
    with pytest.raises(KeyError, match=re.escape(msg)):
        compute_rdms(store, stimuli=other, by="obj", progress=False)


def test_rdms_built_by_hand_still_need_the_same_stimuli():
    a = RDM.from_vector([1, 2, 3], ["x", "y", "z"])
    b = RDM.from_vector([1, 2, 3], ["x", "y", "w"])
    with pytest.raises(ValueError, match=re.escape("RDM 1 has other stimulus ids than RDM 0")):
        RDMs([a, b])


# ------------------------------------------------ most dissimilar entries of each RDM


def test_each_rdm_of_a_stack_reports_its_most_dissimilar_entries(stacked):
    from deeprsa.analyses import extreme_subset

    store, meta, _ = stacked
    stack = compute_rdms(store, stimuli=meta, by="obj", entries="color", layer="fc",
                         n_permutations=1, seed=0, progress=False)
    table = extreme_subset(stack, 3, seed=0)
    assert list(table.columns[:5]) == ["obj", "unit_set", "permutation", "model", "layer"]
    assert len(table) == 3 * len(stack)
    for (obj, perm), rows in table.groupby(["obj", "permutation"], sort=False):
        rdm = stack[int(np.flatnonzero((stack.metadata["obj"] == obj)
                                       & (stack.metadata["permutation"] == perm))[0])]
        best = max(itertools.combinations(range(4), 3),
                   key=lambda c: rdm.matrix[np.ix_(c, c)].sum())
        assert list(rows["stimulus_id"]) == [COLOURS[i] for i in best]  # brute force


# ------------------------------------------------ figures of stacks


def test_plot_rdm_stack_titles_panels_by_group_and_refuses_other_labels(stacked):
    from deeprsa.plots import plot_rdm_stack

    store, meta, _ = stacked
    stack = compute_rdms(store, stimuli=meta, by="obj", entries="color", layer="fc",
                         progress=False)
    fig = plot_rdm_stack(stack)
    assert [ax.get_title() for ax in fig.axes[:4]] == [f"obj={o}" for o in OBJECTS]
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == COLOURS
    assert fig.axes[0].get_ylabel() == "color"
    other = stack[0].subset(COLOURS[::-1])
    msg = "RDM 1 has other entry labels than RDM 0 (['270', '180', '090', '000'] vs"
    with pytest.raises(ValueError, match=re.escape(msg)):
        plot_rdm_stack([stack[0], other])


def test_plot_layer_values_puts_models_with_other_layers_on_relative_depth():
    from deeprsa.plots import plot_layer_values

    table = pd.DataFrame({"model": ["a"] * 3 + ["b"] * 2,
                          "layer": ["c1", "c2", "fc", "f1", "f2"],
                          "fraction_selective": [0.1, 0.5, 0.9, 0.2, 0.4]})
    ax = plot_layer_values(table, y="fraction_selective").axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["first layer", "last layer"]
    assert_allclose(ax.get_lines()[1].get_xdata(), [0, 1])
    same = plot_layer_values(table[table["model"] == "a"], y="fraction_selective").axes[0]
    assert [t.get_text() for t in same.get_xticklabels()] == ["c1", "c2", "fc"]
