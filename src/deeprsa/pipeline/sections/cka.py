"""Report section: a representation method (CKA and co.) between every pair of layers."""

from __future__ import annotations

from ._common import RunContext, slug

S_CKA = "Comparing representations directly (CKA and co.)"


def cka_section(run: RunContext) -> None:
    """Layers x layers of each focus model with a representation method, from the store."""
    import pandas as pd

    from ...compare import multi_model_rdm

    spec = run.config.analyses.cka
    stimuli = run.stimuli.content_hash()
    tables = []
    for name in run.config.outputs.focus:
        result = multi_model_rdm(run.store, [name], method=spec.method, params=spec.params,
                                 stimuli=stimuli)
        table = result.table
        keep = [c for c in ("model_a", "layer_a", "model_b", "layer_b", "method", "params",
                            "value", "dissimilarity") if c in table.columns]
        tables.append(table[keep])
        if run.wants("cka"):
            from ...plots import plot_model_rdm

            fig = plot_model_rdm(result, title=f"{spec.method} · {name}")
            distance = result.kind == "distance"
            fig.axes[-1].set_ylabel((f"{spec.method} distance" if distance else
                                     f"1 − {spec.method}") + " between activations")
            run.record.add_figure(
                fig, f"cka_{slug(name)}", section=S_CKA,
                title=f"{spec.method} between every pair of layers of {name}",
                caption=(f"The {spec.method} distance" if distance else
                         f"1 - {spec.method}") + " between the activations of every pair of "
                        f"layers of {name}, without RDMs (Kornblith et al. 2019 for CKA), "
                        "input at the top left. Dark cells: the two layers represent the "
                        "stimuli alike; compare with the model RDM above.")
    run.record.add_table(
        pd.concat(tables, ignore_index=True), "cka", section=S_CKA,
        title=f"{spec.method} between every pair of layers of each focus model",
        caption=f"value is {spec.method} between the two layers' activations of the same "
                "stimuli (a similarity, or a distance for procrustes and shape_metric); "
                "dissimilarity is what the figure shows.")
