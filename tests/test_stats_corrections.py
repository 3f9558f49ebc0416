"""The correction registry of deeprsa.stats, and the deprecated spellings of "no correction"."""

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from deeprsa.analyses import rep_vs_performance, unit_anova
from deeprsa.rdm import compute_rdm
from deeprsa.stats import (
    bootstrap_rdm_comparison,
    correct_pvalues,
    describe_corrections,
    list_corrections,
    pairwise_mantel,
    register_correction,
)
from deeprsa.stats.corrections import _CORRECTIONS

# Agreement with values computed by hand in float64: 1e-12.
SAME64 = {"rtol": 0, "atol": 1e-12}
# p-values given out of order, so that every correction has to sort and unsort them.
P = np.array([0.01, 0.04, 0.03, 0.2])
# Adjusted P, worked out by hand (m = 4 tests; sorted: 0.01, 0.03, 0.04, 0.2).
EXPECTED = {
    # p as given
    "none": [0.01, 0.04, 0.03, 0.2],
    # min(1, 4 p)
    "bonferroni": [0.04, 0.16, 0.12, 0.8],
    # running max of (4, 3, 2, 1) x sorted p: 0.04, 0.09, max(0.09, 0.08), 0.2
    "holm": [0.04, 0.09, 0.09, 0.2],
    # running min from the top of (4/1, 4/2, 4/3, 4/4) x sorted p: 0.04, 0.06 -> 0.16/3,
    # 0.16/3, 0.2
    "fdr_bh": [0.04, 0.16 / 3, 0.16 / 3, 0.2],
    # fdr_bh times 1 + 1/2 + 1/3 + 1/4 = 25/12
    "fdr_by": [1 / 12, 1 / 9, 1 / 9, 5 / 12],
}


@pytest.fixture
def seed_rdms():
    """RDMs of 4 'network seeds' sharing a geometry, and 2 candidate RDMs (10 stimuli)."""
    rng = np.random.default_rng(0)
    shared = rng.standard_normal((10, 4))
    seeds = [compute_rdm(shared + 0.7 * rng.standard_normal((10, 4)), dtype="float64",
                         model=f"net_s{s}") for s in range(4)]
    candidates = [compute_rdm(shared + noise * rng.standard_normal((10, 4)), dtype="float64",
                              model=f"candidate{i}") for i, noise in enumerate((0.5, 2.0))]
    return candidates, seeds


@pytest.fixture
def sidak():
    """A Sidak correction registered as 'sidak_test' for the length of one test."""
    def _sidak(p):
        """Sidak: 1 - (1 - p)^m."""
        return 1 - (1 - p) ** len(p)

    register_correction("sidak_test", _sidak)
    yield _sidak
    _CORRECTIONS.pop("sidak_test")


def test_every_registered_correction_has_a_hand_computed_case():
    assert sorted(EXPECTED) == list_corrections()


@pytest.mark.parametrize("method", sorted(EXPECTED))
def test_correction_matches_the_hand_computed_values(method):
    assert_allclose(correct_pvalues(P, method=method), EXPECTED[method], **SAME64)


@pytest.mark.parametrize("method", list_corrections())
def test_correction_never_lowers_a_pvalue_and_keeps_nan(method):
    p = np.random.default_rng(0).uniform(0, 1, size=(6, 5))
    p[2, 3] = np.nan
    adjusted = correct_pvalues(p, method=method)
    assert adjusted.shape == p.shape
    assert_array_equal(np.isnan(adjusted), np.isnan(p))
    finite = ~np.isnan(p)
    assert (adjusted[finite] >= p[finite]).all() and (adjusted[finite] <= 1).all()


def test_none_is_the_identity_and_a_copy():
    p = np.array([0.3, np.nan, 0.001])
    adjusted = correct_pvalues(p, method="none")
    assert_array_equal(adjusted, p)
    adjusted[0] = 1.0
    assert p[0] == 0.3


def test_describe_corrections_gives_the_first_docstring_line():
    descriptions = describe_corrections()
    assert list(descriptions) == list_corrections()
    assert descriptions["none"] == "No correction: the p-values as given."
    assert descriptions["holm"] == "Holm's step-down correction, controls the family-wise error rate."
    assert all(descriptions.values())


def test_a_registered_correction_is_accepted_everywhere(sidak, seed_rdms):
    assert "sidak_test" in list_corrections()
    assert describe_corrections()["sidak_test"] == "Sidak: 1 - (1 - p)^m."
    assert_allclose(correct_pvalues(P, method="sidak_test"), 1 - (1 - P) ** 4, **SAME64)
    _, seeds = seed_rdms
    table = pairwise_mantel(seeds[:3], n_permutations=19, correction="sidak_test", seed=0)
    assert_allclose(table.pvalue_corrected, sidak(table.pvalue.to_numpy()), **SAME64)
    assert (table.correction == "sidak_test").all()
    X = np.random.default_rng(0).standard_normal((20, 3))
    groups = np.repeat([0, 1], 10)
    units = unit_anova(X, groups, correction="sidak_test")
    assert_allclose(units.pvalue_adjusted, sidak(units.pvalue.to_numpy()), **SAME64)


def test_a_correction_name_can_be_registered_once():
    msg = "A correction named 'holm' is already registered by deeprsa.stats.corrections."
    with pytest.raises(ValueError, match=re.escape(msg)):
        register_correction("holm", lambda p: p)
    assert_allclose(correct_pvalues(P, method="holm"), EXPECTED["holm"], **SAME64)


def test_a_correction_must_be_callable():
    with pytest.raises(TypeError, match=re.escape("register_correction needs a callable, "
                                                  "got str.")):
        register_correction("bad_test", "holm")
    assert "bad_test" not in list_corrections()


AVAILABLE = "Available: 'bonferroni', 'fdr_bh', 'fdr_by', 'holm', 'none'."


@pytest.mark.parametrize("call, msg", [
    (lambda rdms: correct_pvalues(P, method="hlm"),
     f"Unknown method 'hlm'. Did you mean 'holm'? {AVAILABLE}"),
    (lambda rdms: pairwise_mantel(rdms, n_permutations=9, correction="bonferoni"),
     f"Unknown correction 'bonferoni'. Did you mean 'bonferroni'? {AVAILABLE}"),
    (lambda rdms: pairwise_mantel(rdms, n_permutations=9, correction="None"),
     f"Unknown correction 'None'. Did you mean 'none'? {AVAILABLE}"),
], ids=["correct_pvalues", "pairwise_mantel", "capitalised-none"])
def test_unknown_correction_suggests_the_closest(seed_rdms, call, msg):
    with pytest.raises(ValueError, match=re.escape(msg)):
        call(seed_rdms[1])


# ---------------------------------------------------------------- "no correction"


def test_pairwise_mantel_none_leaves_the_corrected_column_out(seed_rdms):
    _, seeds = seed_rdms
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = pairwise_mantel(seeds[:3], n_permutations=19, correction="none", seed=0)
    assert "pvalue_corrected" not in table and "correction" not in table
    corrected = pairwise_mantel(seeds[:3], n_permutations=19, seed=0)
    assert_array_equal(table.pvalue, corrected.pvalue)


def test_pairwise_mantel_correction_none_value_is_a_deprecated_alias(seed_rdms):
    _, seeds = seed_rdms
    msg = ("correction=None is deprecated and will stop working in the next release; use "
           "correction='none', which behaves the same.")
    with pytest.warns(DeprecationWarning, match=re.escape(msg)) as caught:
        old = pairwise_mantel(seeds[:3], n_permutations=19, correction=None, seed=0)
    assert caught[0].filename == __file__  # points at the caller
    new = pairwise_mantel(seeds[:3], n_permutations=19, correction="none", seed=0)
    pd.testing.assert_frame_equal(old, new)


@pytest.mark.parametrize("old, new", [(True, "dual"), (False, "none"), (np.True_, "dual")],
                         ids=["True", "False", "numpy-bool"])
def test_rdm_bootstrap_bool_correction_is_a_deprecated_alias(seed_rdms, old, new):
    candidates, seeds = seed_rdms
    kwargs = {"over": "both", "n_resamples": 30, "seed": 0}
    msg = (f"correction={bool(old)!r} is deprecated and will stop working in the next "
           f"release; use correction={new!r}, which behaves the same.")
    with pytest.warns(DeprecationWarning, match=re.escape(msg)) as caught:
        aliased = bootstrap_rdm_comparison(candidates, seeds, correction=old, **kwargs)
    assert caught[0].filename == __file__
    spelled = bootstrap_rdm_comparison(candidates, seeds, correction=new, **kwargs)
    pd.testing.assert_frame_equal(aliased.table, spelled.table)


def test_rdm_bootstrap_dual_correction_is_the_default_and_changes_the_variance(seed_rdms):
    candidates, seeds = seed_rdms
    kwargs = {"over": "both", "n_resamples": 30, "seed": 0}
    default = bootstrap_rdm_comparison(candidates, seeds, **kwargs).table
    dual = bootstrap_rdm_comparison(candidates, seeds, correction="dual", **kwargs).table
    plain = bootstrap_rdm_comparison(candidates, seeds, correction="none", **kwargs).table
    pd.testing.assert_frame_equal(default, dual)
    assert_array_equal(dual.estimate, plain.estimate)
    assert not np.allclose(dual.standard_error, plain.standard_error)


def test_rdm_bootstrap_correction_is_dual_or_none(seed_rdms):
    candidates, seeds = seed_rdms
    msg = "Unknown correction 'fdr_bh'. Available: 'dual', 'none'."
    with pytest.raises(ValueError, match=re.escape(msg)):
        bootstrap_rdm_comparison(candidates, seeds, correction="fdr_bh", n_resamples=10)


def test_analyses_take_the_registered_corrections():
    # unit_anova and rep_vs_performance list the same names as the registry.
    X = np.random.default_rng(0).standard_normal((20, 3))
    groups = np.repeat([0, 1], 10)
    with pytest.raises(ValueError, match=re.escape(
            f"Unknown correction 'holms'. Did you mean 'holm'? {AVAILABLE}")):
        unit_anova(X, groups, correction="holms")
    names = ["a", "b", "c"]
    predictions = {n: np.repeat([0, 1], 10) for n in names}
    sim = pd.DataFrame(np.eye(3), index=names, columns=names)
    with pytest.raises(ValueError, match=re.escape(
            f"Unknown correction 'fdr'. Did you mean 'fdr_by'? {AVAILABLE}")):
        rep_vs_performance({"fc": sim}, predictions, np.repeat([0, 1], 10), correction="fdr")


def test_cli_mantel_correction_none(tmp_path):
    from click.testing import CliRunner

    from deeprsa.cli import cli
    from deeprsa.store import Store, content_key

    store = Store(tmp_path / "s.zarr")
    ids = [f"s{i:02d}" for i in range(12)]
    stimuli = store.add_stimuli(ids, content_key({"ids": ids}))
    base = np.random.default_rng(0).standard_normal((12, 5))
    for i, model in enumerate(("net_s0", "net_s1")):
        X = base + 0.3 * np.random.default_rng(i + 1).standard_normal(base.shape)
        store.write("activations", {"model": model, "layer": "fc", "reduction":
                                    {"name": "flatten"}, "stimuli": stimuli,
                                    "dtype": "float32"}, X.astype(np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        out = CliRunner().invoke(cli, ["mantel", "--store", str(store.path), "--model",
                                       "net_s0", "--model", "net_s1", "--n-permutations", "99",
                                       "--correction", "none", "--seed", "0"])
    assert out.exit_code == 0, out.output
    table = pd.read_csv(store.path / "tables" / "mantel.csv")
    assert len(table) == 1 and table.pvalue.iloc[0] == 0.01
    assert "pvalue_corrected" not in table.columns
