"""``deeprsa compare --target PATH``: every layer in a store against brain or behavioural RDMs."""

from __future__ import annotations

import click

from ._common import _echo_table, _write_analysis_table

_COLUMNS = ["model", "layer", "estimate", "ci_low", "ci_high", "p_corrected",
            "noise_ceiling_lower", "noise_ceiling_upper"]


def compare_with_target(store, target, *, labels, method, models, measure, over, n_resamples,
                        cv, seed, table_path):
    """Print the layer profile and the cross-validated best layers; write the table."""
    from pathlib import Path

    from ..analyses import layer_profile
    from ..rdm import load_rdms

    ids = None
    if labels:
        ids = [line.strip() for line in Path(labels).read_text().splitlines() if line.strip()]
    rdms = load_rdms(target, stimulus_ids=ids)
    filters = {} if measure is None else {"measure": measure}
    profile = layer_profile(store, rdms, model=list(models) or None, method=method, over=over,
                            n_resamples=n_resamples, cv=cv, seed=seed, **filters)
    _echo_table(profile.table, _COLUMNS)
    click.echo("\nbest layer of each model (chosen by cross-validation over stimuli):")
    _echo_table(profile.best, ["model", "layer", "n_chosen", "n_folds", "held_out"])
    name = profile.table["target"].iloc[0]
    path = _write_analysis_table(profile.table, table_path, store,
                                 f"profile-{name}-{method}.parquet")
    click.echo(f"table ({len(profile.table)} layers): {path}")
