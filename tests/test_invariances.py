"""Every registered measure and comparison method is checked against the invariances it states.

Each measure (``describe_measures()``) and method (``describe_methods()``) names the
transforms of its input that leave every value unchanged (the ``invariances`` column:
names from ``deeprsa.rdm.measures.INVARIANCES`` for activations and
``deeprsa.compare.registry.RDM_INVARIANCES`` for RDM entries). The checks below run
over the whole registry, so a measure or method added with ``register_measure`` /
``register_method`` is checked the same way (see the tests at the bottom).

Tolerances: float64 throughout. A stated invariance holds to 1e-9 relative (the
transforms change the rounding of centring and products, nothing else; the offsets
1e0, 1e3 and 1e6 of the shift test lose about log10(offset) digits of the data's
own scale, leaving more than 9). An unstated one must change a value by more than
1e-6, so that the declarations are complete as well as true.
"""

import re

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.stats import ortho_group

from deeprsa.compare import (
    compare_rdms,
    compare_representations,
    describe_methods,
    list_methods,
    register_method,
)
from deeprsa.compare.registry import _METHODS, RDM_INVARIANCES
from deeprsa.rdm import compute_rdm, describe_measures, list_measures, register_measure
from deeprsa.rdm.measures import _MEASURES, INVARIANCES

SAME = {"rtol": 1e-9, "atol": 1e-12}
CHANGED = 1e-6
OFFSETS = [1e0, 1e3, 1e6]


def _activation_transform(name, X, *, offset=10.0, seed=0):
    """The transform ``name`` of INVARIANCES applied to activations X (n_stimuli, n_units)."""
    rng = np.random.default_rng(seed)
    n, p = X.shape
    if name == "rotation":
        return X @ ortho_group.rvs(p, random_state=seed)
    if name == "unit_permutation":
        return X[:, rng.permutation(p)]
    if name == "scaling":
        return 3.7 * X
    if name == "shift":
        return X + offset * rng.uniform(0.5, 1.5, p)
    if name == "invertible_linear":
        return X @ (np.eye(p) + rng.standard_normal((p, p)))
    if name == "pattern_scaling":
        return X * rng.uniform(0.5, 2.0, n)[:, None]
    if name == "pattern_shift":
        return X + offset * rng.uniform(-1.0, 1.0, n)[:, None]
    if name == "pattern_monotone":
        return np.exp(rng.uniform(0.5, 1.5, n)[:, None] * X)
    raise AssertionError(f"no test transform for {name!r}")


def _rdm_transform(name, a, *, offset=10.0):
    """The transform ``name`` of RDM_INVARIANCES applied to RDM entries a."""
    if name == "scaling":
        return 3.7 * a
    if name == "shift":
        return a + offset
    if name == "monotone":
        return np.exp(2.0 * a) + a ** 3
    raise AssertionError(f"no test transform for {name!r}")


def test_every_invariance_has_a_test_transform():
    X, a = np.ones((3, 2)), np.ones(3)
    for name in INVARIANCES:
        _activation_transform(name, X)
    for name in RDM_INVARIANCES:
        _rdm_transform(name, a)


def _invariances(table, name):
    value = table.set_index("name").loc[name, "invariances"]
    return [s for s in value.split(", ") if s]


def _activations(seed=0):
    # An offset, as ReLU activations have.
    return np.random.default_rng(seed).standard_normal((12, 30)) + 2.0


def _rdm(X, measure):
    return compute_rdm(X, measure=measure, dtype="float64").matrix


def _representations(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((40, 6))
    Y = X @ rng.standard_normal((6, 5)) + rng.standard_normal((40, 5))
    return X, Y


def _rdm_vectors(seed=0):
    # Upper triangles of two related RDMs of 12 stimuli, positive and without ties.
    rng = np.random.default_rng(seed)
    a = rng.random(66) + 0.5
    return a, a + 0.3 * rng.random(66)


# ---------------------------------------------------------------- the checkers


def check_measure_invariance(measure, invariance, *, offset=10.0):
    """The RDM of the transformed activations equals the RDM of the activations."""
    X = _activations()
    assert_allclose(_rdm(_activation_transform(invariance, X, offset=offset), measure),
                    _rdm(X, measure), **SAME)


def check_method_invariance(method, invariance, *, offset=10.0):
    """Transforming one input leaves every value unchanged (against a fixed other input)."""
    spec = _METHODS[method]
    if spec.input == "rdm":
        a, b = _rdm_vectors()
        moved = _rdm_transform(invariance, a, offset=offset)
        assert_allclose(compare_rdms(np.stack([moved, a]), b, method=method).matrix,
                        compare_rdms(np.stack([a, a]), b, method=method).matrix, **SAME)
        return
    X, Y = _representations()
    moved = _activation_transform(invariance, X, offset=offset)
    assert_allclose(compare_representations(moved, Y, method=method),
                    compare_representations(X, Y, method=method), **SAME)


# ---------------------------------------------------------------- the whole registry


def _declared(table, names):
    return [(name, inv) for name in names for inv in _invariances(table, name)]


MEASURE_INVARIANCES = _declared(describe_measures(), list_measures())
METHOD_INVARIANCES = _declared(describe_methods(), list_methods())


def test_every_measure_and_method_states_its_invariances():
    assert {m for m, _ in MEASURE_INVARIANCES} == set(list_measures())
    assert {m for m, _ in METHOD_INVARIANCES} == set(list_methods())


@pytest.mark.parametrize("measure, invariance", MEASURE_INVARIANCES,
                         ids=[f"{m}-{i}" for m, i in MEASURE_INVARIANCES])
def test_measures_have_their_stated_invariances(measure, invariance):
    check_measure_invariance(measure, invariance)


@pytest.mark.parametrize("method, invariance", METHOD_INVARIANCES,
                         ids=[f"{m}-{i}" for m, i in METHOD_INVARIANCES])
def test_methods_have_their_stated_invariances(method, invariance):
    check_method_invariance(method, invariance)


def _unstated(table, names, vocabulary):
    return [(name, inv) for name in names for inv in vocabulary
            if inv not in _invariances(table, name)]


@pytest.mark.parametrize("measure, invariance",
                         _unstated(describe_measures(), list_measures(), INVARIANCES))
def test_measures_change_under_every_unstated_transform(measure, invariance):
    X = _activations()
    diff = np.abs(_rdm(_activation_transform(invariance, X), measure) - _rdm(X, measure))
    assert diff.max() > CHANGED


def _unstated_methods():
    table = describe_methods()
    return (_unstated(table, list_methods(input="rdm"), RDM_INVARIANCES)
            + _unstated(table, list_methods(input="representation"), INVARIANCES))


@pytest.mark.parametrize("method, invariance", _unstated_methods())
def test_methods_change_under_every_unstated_transform(method, invariance):
    # Against the other input, or against its own untransformed self (where the value
    # leaves the identity value: 1 for similarities, 0 for distances). The first catches
    # SVCCA, whose truncation a linear map changes (without truncation it would be
    # invariant); the second a discrete method such as mutual_knn, which could keep its
    # value against another input by chance.
    spec = _METHODS[method]
    identity = 1.0 if spec.kind == "similarity" else 0.0
    if spec.input == "rdm":
        a, b = _rdm_vectors()
        moved = _rdm_transform(invariance, a)
        values = compare_rdms(np.stack([moved, a]), np.stack([b, a]), method=method).matrix
        changes = [values[0, 0] - values[1, 0], values[0, 1] - identity]
    else:
        X, Y = _representations()
        moved = _activation_transform(invariance, X)
        changes = [compare_representations(moved, Y, method=method)
                   - compare_representations(X, Y, method=method),
                   compare_representations(moved, X, method=method) - identity]
    assert np.max(np.abs(changes)) > CHANGED


# ---------------------------------------------------------------- shift at large offsets


SHIFTED_MEASURES = [(m, i) for m, i in MEASURE_INVARIANCES if i in ("shift", "pattern_shift")]
SHIFTED_METHODS = [m for m, i in METHOD_INVARIANCES if i == "shift"]


@pytest.mark.parametrize("offset", OFFSETS)
@pytest.mark.parametrize("measure, invariance", SHIFTED_MEASURES)
def test_shift_invariant_measures_hold_at_large_offsets(measure, invariance, offset):
    check_measure_invariance(measure, invariance, offset=offset)


@pytest.mark.parametrize("offset", OFFSETS)
@pytest.mark.parametrize("method", SHIFTED_METHODS)
def test_shift_invariant_methods_hold_at_large_offsets(method, offset):
    # The failure: minibatch CKA formed batch Gram matrices of uncentred
    # features, 3-5 % off at an offset of 1000; RBF CKA formed |x|^2 + |y|^2 - 2 x.y.
    check_method_invariance(method, "shift", offset=offset)


def test_the_shift_test_covers_the_methods_that_centre():
    assert {"linear_cka", "debiased_linear_cka", "minibatch_linear_cka", "rbf_cka",
            "procrustes", "shape_metric", "cca", "svcca", "pearson", "spearman"} <= set(
        SHIFTED_METHODS)
    assert {m for m, _ in SHIFTED_MEASURES} >= {"correlation", "euclidean", "spearman"}


# ---------------------------------------------------------------- user-registered ones


@pytest.fixture
def user_measure():
    name = "euclidean_by_broadcasting"

    def euclidean(A, B):
        """Euclidean distance by broadcasting."""
        return np.sqrt(((A[:, None, :] - B[None, :, :]) ** 2).sum(-1))

    register_measure(name, euclidean, invariances=("rotation", "shift"))
    yield name
    _MEASURES.pop(name)


def test_a_user_measure_shows_and_meets_its_invariances(user_measure):
    table = describe_measures()
    assert _invariances(table, user_measure) == ["rotation", "shift"]
    for invariance in ("rotation", "shift"):
        check_measure_invariance(user_measure, invariance)
    for offset in OFFSETS:
        check_measure_invariance(user_measure, "shift", offset=offset)


def test_a_false_claim_of_a_user_measure_is_caught(user_measure):
    with pytest.raises(AssertionError):  # Euclidean distances grow with the scale
        check_measure_invariance(user_measure, "scaling")


@pytest.fixture
def user_methods():
    def unscaled_cka(X, Y):
        """Linear CKA without centring (not shift invariant)."""
        return (np.linalg.norm(X.T @ Y) ** 2
                / (np.linalg.norm(X.T @ X) * np.linalg.norm(Y.T @ Y)))

    def correlation(a, b):
        """Pearson r by numpy."""
        return np.corrcoef(a, b)[0, 1]

    register_method("uncentred_cka", unscaled_cka, input="representation",
                    invariances=("rotation", "scaling"))
    register_method("numpy_pearson", correlation, invariances=("scaling", "shift"))
    yield "uncentred_cka", "numpy_pearson"
    _METHODS.pop("uncentred_cka")
    _METHODS.pop("numpy_pearson")


def test_user_methods_show_and_meet_their_invariances(user_methods):
    table = describe_methods()
    assert _invariances(table, "uncentred_cka") == ["rotation", "scaling"]
    assert _invariances(table, "numpy_pearson") == ["scaling", "shift"]
    for method in user_methods:
        for invariance in _invariances(table, method):
            check_method_invariance(method, invariance)


def test_a_false_claim_of_a_user_method_is_caught(user_methods):
    with pytest.raises(AssertionError):  # no centring: a shift changes it
        check_method_invariance("uncentred_cka", "shift")


@pytest.mark.parametrize("register, kwargs, msg", [
    (register_measure, {}, "Unknown invariance 'rotaton' for a measure. Did you mean "
                           "'rotation'? Available: 'invertible_linear', 'pattern_monotone', "
                           "'pattern_scaling', 'pattern_shift', 'rotation', 'scaling', "
                           "'shift', 'unit_permutation'."),
    (register_method, {"input": "rdm"}, "Unknown invariance 'rotaton' for a method comparing "
                                        "RDMs. Available: 'monotone', 'scaling', 'shift'."),
])
def test_unknown_invariances_are_refused(register, kwargs, msg):
    with pytest.raises(ValueError, match=re.escape(msg)):
        register("never_registered", lambda a, b: 0.0, invariances=("rotaton",), **kwargs)
    assert "never_registered" not in list_measures() + list_methods()
