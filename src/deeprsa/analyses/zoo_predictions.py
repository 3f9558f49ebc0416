"""Predictions of the bundled zoo's models on the digits test split.

:func:`read_zoo_predictions` reads the predicted digit of every test stimulus
from the zoo's model cards, with the true labels, ready for
:func:`deeprsa.analyses.rep_vs_performance`.
"""

from __future__ import annotations

import numpy as np

from .._deprecation import renamed_keywords

__all__ = ["read_zoo_predictions"]


@renamed_keywords(models="model")
def read_zoo_predictions(model=None):
    """Predictions of zoo models on the digits test split, and the true labels.

    Parameters
    ----------
    model : sequence of str, optional
        Zoo entries, with or without the ``"zoo:"`` prefix (the keys of the
        result keep the names as given, to match a store's ``model`` column).
        Default: the final entries of every run (``convnet_s0``, ...).

    Returns
    -------
    predictions : dict of str to ndarray of shape (450,)
        The predicted digit of every test stimulus, per model.
    labels : ndarray of shape (450,)
        The true digits, in the same order (``deeprsa.digits(split="test")``).

    Raises
    ------
    ValueError
        If a name is not a zoo entry (with a did-you-mean).

    Examples
    --------
    >>> predictions, labels = read_zoo_predictions(["zoo:convnet_s0", "convnet_s1"])
    >>> sorted(predictions), labels.shape
    (['convnet_s1', 'zoo:convnet_s0'], (450,))
    >>> round(float((predictions["zoo:convnet_s0"] == labels).mean()), 3)
    0.973
    """
    from .. import zoo
    from ..stimuli import digits

    models = model
    if models is None:
        entries = zoo.list_entries()
        models = entries.loc[entries["final"], "name"].tolist()
    elif isinstance(models, str):
        models = [models]
    names = [_zoo_name(m) for m in models]
    cards = {m: zoo.card(name) for m, name in zip(models, names, strict=True)}
    ids = cards[models[0]]["stimulus_ids"]
    meta = digits(split="test").metadata
    labels = meta.loc[ids, "label"].to_numpy()
    predictions = {}
    for m, c in cards.items():
        if c["stimulus_ids"] != ids:  # pragma: no cover - the shipped zoo shares one split
            raise ValueError(f"Zoo entry {m!r} was evaluated on other stimuli than "
                             f"{models[0]!r}.")
        predictions[str(m)] = np.asarray(c["predictions"], dtype=np.int64)
    return predictions, labels


def _zoo_name(model: str) -> str:
    if not isinstance(model, str):
        raise TypeError(f"Zoo model names are str, got {type(model).__name__}.")
    return model[len("zoo:"):] if model.startswith("zoo:") else model

