"""Class structure of an RDM: how much closer stimuli of one class are than of different ones."""

from __future__ import annotations

import numpy as np

__all__ = ["class_structure"]


def class_structure(rdm, labels) -> dict:
    """Mean within- and between-class dissimilarity of an RDM, and their ratio.

    Parameters
    ----------
    rdm : RDM
        Over stimuli that ``labels`` names.
    labels : pandas.Series
        The class of each stimulus, indexed by stimulus id.

    Returns
    -------
    dict
        ``within_class`` (mean over pairs of one class), ``between_class``
        (mean over pairs of different classes) and ``ratio`` (between / within:
        above 1, same-class stimuli are closer). NaN where a mean has no pairs
        or the within-class mean is 0.

    Examples
    --------
    >>> import pandas as pd
    >>> from deeprsa import RDM
    >>> rdm = RDM.from_vector([1, 4, 4, 4, 4, 1], ["a1", "a2", "b1", "b2"])
    >>> class_structure(rdm, pd.Series(["a", "a", "b", "b"], index=rdm.stimulus_ids))
    {'within_class': 1.0, 'between_class': 4.0, 'ratio': 4.0}
    """
    classes = labels.loc[list(rdm.stimulus_ids)].to_numpy()
    i, j = np.triu_indices(len(classes), k=1)
    values = rdm.vector()
    same = classes[i] == classes[j]
    within = float(values[same].mean()) if same.any() else float("nan")
    between = float(values[~same].mean()) if (~same).any() else float("nan")
    return {"within_class": within, "between_class": between,
            "ratio": between / within if within > 0 else float("nan")}
