"""Report sections: the stack of RDMs over entries, and its meta-RDMs (second and third order).

The pytorch_feature_analysis workflow: one RDM over the entries (e.g. colours)
of each group (e.g. object), per layer; then a meta-RDM per layer asking how
alike the groups' RDMs are, and a third-order RDM asking how alike the
layers' meta-RDMs are. With label permutations in the stack, the meta-RDM of
each permutation gives the null distribution of how alike the groups are.
"""

from __future__ import annotations

import json

import numpy as np

from ._common import RunContext, method_name, slug

S_STACK = "Stacks of RDMs over entries"
S_META = "Meta-RDMs: comparing the RDMs of a stack"


def stack_section(run: RunContext) -> None:
    """Compute (or load) the stack of the config's [rdm] keys; tabulate and draw it."""
    from ...rdm import compute_rdms

    spec = run.config.rdm
    stack = compute_rdms(run.store, stimuli=run.stimuli, model=run.names,
                         measure=list(spec.measures), dtype=spec.dtype, progress=run.progress,
                         **spec.stack_options())
    run.stack = stack
    table = _stack_table(stack)
    by = list(spec.by)
    what = _what(spec)
    run.record.add_table(
        table, "rdm_stack", section=S_STACK, title="Every RDM of the stack",
        caption=f"One RDM per {' and '.join(by) or 'layer'}, model, layer, measure and unit "
                f"subset, {what}. entry_labels are its rows, in order; mean_dissimilarity "
                "is the mean over its pairs of entries. Label permutations (n_permutations) "
                "relabel each RDM's entries and are left out of this table.")
    if not run.wants("rdm_stack"):
        return
    from ...plots import plot_rdm_stack

    meta = stack.metadata
    for name in run.config.outputs.focus:
        layer = run.layers[name][-1]
        chosen = _observed(meta, model=name, layer=layer, measure=run.measure,
                           unit_set=meta["unit_set"].iloc[0])
        rdms = [stack[int(i)] for i in chosen]
        if len({r.stimulus_ids for r in rdms}) != 1:
            run.record.add_note(f"The stack's RDMs of {name} · {layer} are over different "
                                "entries, so they are not drawn side by side.", section=S_STACK)
            continue
        fig = plot_rdm_stack(rdms, suptitle=f"{name} · {layer}")
        run.record.add_figure(
            fig, f"rdm_stack_{slug(name)}", section=S_STACK,
            title=f"The stack's RDMs in the last layer of {name}",
            caption=f"One {run.measure} RDM per {' and '.join(by) or 'stack entry'} in "
                    f"{name}'s last layer ({layer}), {what}, all on one colour scale (as "
                    "pytorch_feature_analysis builds one RDM per image set). "
                    "Panels that look alike mean the groups arrange their entries alike; "
                    "the meta-RDM below measures it.")


def _what(spec) -> str:
    """What the rows of the stack's RDMs are, for captions."""
    if spec.entries:
        what = (f"its rows one per value of {', '.join(spec.entries)} (the mean pattern of "
                "the group's stimuli with that value)")
    else:
        what = "its rows the group's stimuli"
    if spec.combine:
        what += f", plus {len(spec.combine)} combination(s) of rows (their mean pattern)"
    return what


def _stack_table(stack):
    meta = stack.metadata
    keep = np.flatnonzero(meta["permutation"] == 0)
    rows = meta.iloc[keep].reset_index(drop=True)
    by = json.loads(rows["by"].iloc[0]) if rows["by"].iloc[0] else []
    table = rows[[*by, "model", "layer", "measure", "unit_set", "units_hash",
                  "n_permutations", "entry_labels", "stack"]].copy()
    table.insert(len(by) + 5, "n_entries", [stack[int(i)].n_stimuli for i in keep])
    table.insert(len(by) + 6, "mean_dissimilarity",
                 [float(np.mean(stack[int(i)].vector(), dtype=np.float64)) for i in keep])
    return table


def _observed(meta, **fields):
    """Positions of the observed (permutation 0) RDMs whose fields match."""
    mask = meta["permutation"] == 0
    for name, value in fields.items():
        mask &= meta[name] == value
    return np.flatnonzero(mask)


def meta_rdm_section(run: RunContext) -> None:
    """Meta-RDMs of the stack (second order), their permutation test, the third order."""
    from ...compare import compute_meta_rdms

    spec = run.config.analyses.meta_rdm
    entry, grouping = list(spec.entry_variables), list(spec.grouping_variables)
    stack = run.stack
    permuted = stack.metadata["permutation"].to_numpy() > 0
    observed = compute_meta_rdms(stack[~permuted], entry_variables=entry,
                                 grouping_variables=grouping, method=spec.method)
    pairs = _pair_table(observed, [_level(c) for c in grouping if c != "permutation"])
    method = method_name(spec.method)
    run.record.add_table(
        pairs, "meta_rdms", section=S_META, title="Every meta-RDM, pair by pair",
        caption=f"For each {', '.join(c for c in grouping if c != 'permutation')}: the "
                f"dissimilarity (1 - {method}) between the RDMs of every pair of "
                f"{_groups(entry)} (pytorch_feature_analysis' "
                "meta-RDMs, with the _sub suffix for what describes the RDMs compared, e.g. "
                "measure_sub is their first-order measure).")
    if permuted.any():
        _permutation_test(run, grouping, entry, spec.method)
    third = None
    if spec.third_order:
        third = _third_order(run, observed, grouping, list(spec.third_order))
    _meta_figures(run, observed, third, entry, method)


def _groups(columns) -> str:
    """``["layer"]`` -> ``"layers"``; ``["label"]`` -> ``"label groups"``, for captions."""
    if list(columns) == ["layer"]:
        return "layers"
    return f"{' and '.join(columns)} groups"


def _level(column):
    return {"measure": "measure_sub", "params": "params_sub"}.get(column, column)


def _pair_table(frame, grouping):
    """One row per pair of entries of every (meta-)RDM: its groups, measures and value."""
    import pandas as pd

    measures = sorted((c for c in frame.columns if c.startswith("measure")), key=len,
                      reverse=True)  # measure_sub_sub, measure_sub, measure
    columns = [c for c in grouping if not c.startswith("measure")] + measures
    rows = []
    for record in frame.to_dict("records"):
        rdm = record["rdm"]
        i, j = np.triu_indices(rdm.n_stimuli, 1)
        ids = np.asarray(rdm.stimulus_ids, dtype=object)
        base = {c: record[c] for c in columns if c in record}
        for a, b, d in zip(ids[i], ids[j], rdm.vector(), strict=True):
            rows.append({**base, "entry_a": a, "entry_b": b, "dissimilarity": float(d)})
    return pd.DataFrame(rows)


def _permutation_test(run, grouping, entry, method_key):
    """Are the groups' RDMs more alike than when each group's entries are relabelled?

    The statistic is the mean of a meta-RDM; each label permutation of the
    stack gives one value of its null distribution. All RDMs of one meta-RDM
    and its permutations are compared in one call (blocks of one matrix).
    """
    import pandas as pd

    from ...compare import compare_rdms

    stack, method = run.stack, method_name(method_key)
    meta = stack.metadata
    keys = [c for c in grouping if c != "permutation"]
    rows = []
    for values, group in meta.groupby(keys, sort=False, dropna=False):
        D = compare_rdms([stack[int(i)] for i in group.index], method=method_key).dissimilarity
        perms = group["permutation"].to_numpy()
        means = {}
        for perm in np.unique(perms):
            where = np.flatnonzero(perms == perm)
            i, j = np.triu_indices(len(where), 1)
            means[int(perm)] = float(np.mean(D[where[i], where[j]]))
        null = np.array([v for k, v in means.items() if k > 0])
        value = means[0]
        values = values if isinstance(values, tuple) else (values,)
        rows.append({**dict(zip(keys, values, strict=True)), "method": method_key,
                     "mean_dissimilarity": value, "null_mean": float(null.mean()),
                     "n_permutations": len(null),
                     "pvalue": (1 + int(np.sum(null <= value))) / (len(null) + 1)})
    table = pd.DataFrame(rows)
    run.record.add_table(
        table, "meta_rdm_permutations", section=S_META,
        title=f"Are the RDMs of different {_groups(entry)} more alike than chance?",
        caption=f"mean_dissimilarity is the mean of the observed meta-RDM (1 - {method} "
                "between the RDMs of every pair of groups); null_mean its mean over the label "
                "permutations of the stack, in which every group's entries are relabelled "
                "independently. pvalue = (1 + the permutations at least as alike) / "
                "(1 + n_permutations): small when the groups share their RDMs' structure.")
    for name in run.config.outputs.focus:
        mine = table[table["model"] == name] if "model" in table else table.iloc[0:0]
        if len(mine):
            best = mine.loc[mine["mean_dissimilarity"].idxmin()]
            run.record.highlights.append(
                f"{name}: the RDMs of different {_groups(entry)} are most alike in "
                f"{best.get('layer', '')} (meta-RDM mean {best['mean_dissimilarity']:.3f}, "
                f"under permutations {best['null_mean']:.3f}, p = {best['pvalue']:.3g}).")


def _third_order(run, observed, grouping, third):
    from ...compare import compute_meta_rdms

    rest = [_level(c) for c in grouping if c not in third and c != "permutation"]
    frame = observed.drop(columns=["permutation"], errors="ignore")
    result = compute_meta_rdms(frame, entry_variables=third,
                               grouping_variables=[*rest, "measure"],
                               method=run.config.analyses.meta_rdm.method)
    table = _pair_table(result, [_level(c) for c in [*rest, "measure"]])
    run.record.add_table(
        table, "third_order_rdms", section=S_META,
        title=f"Third-order RDMs: how alike the meta-RDMs of different {_groups(third)} are",
        caption="The meta-RDMs, compared in turn (an RDM of meta-RDMs, as "
                "pytorch_feature_analysis' third-order RDMs): _sub_sub names what describes "
                "the first-order RDMs.")
    return result


def _meta_figures(run, observed, third, entry, method):
    from ...plots import plot_model_rdm, plot_rdm_stack

    for name in run.config.outputs.focus:
        mine = observed[observed["model"] == name] if "model" in observed else observed
        mine = mine[mine["measure_sub"] == run.measure] if "measure_sub" in mine else mine
        if "unit_set" in mine and len(mine):
            mine = mine[mine["unit_set"] == mine["unit_set"].iloc[0]]
        if mine.empty:
            continue
        if run.wants("meta_rdm") and "layer" in mine:
            rdms = {str(layer): rdm for layer, rdm in zip(mine["layer"], mine["rdm"],
                                                          strict=True)}
            fig = plot_rdm_stack(rdms, suptitle=f"{name}: one meta-RDM per layer, over "
                                                f"{', '.join(entry)}")
            run.record.add_figure(
                fig, f"meta_rdm_{slug(name)}", section=S_META,
                title=f"Meta-RDMs of {name}, one per layer",
                caption=f"Each panel compares the RDMs of every pair of {_groups(entry)} in "
                        f"one layer of {name}: 1 - {method} correlation between them (the "
                        "second-order RDMs of pytorch_feature_analysis). Dark cells: two "
                        "groups arrange their entries alike in that layer.")
            _meta_mds(run, name, mine, entry, method)
        if run.wants("third_order") and third is not None:
            rows = third[third["model"] == name] if "model" in third else third
            rows = rows[rows["measure_sub_sub"] == run.measure] \
                if "measure_sub_sub" in rows else rows
            if len(rows):
                fig = plot_model_rdm(rows["rdm"].iloc[0], title=f"{name}: third-order RDM")
                run.record.add_figure(
                    fig, f"third_order_{slug(name)}", section=S_META,
                    title=f"Third-order RDM of {name}",
                    caption=f"1 - {method} correlation between the meta-RDMs of every pair "
                            f"of layers of {name}: whether two layers agree on which "
                            f"{_groups(entry)} arrange their entries alike. Input layers at "
                            "the top left.")


def _meta_mds(run, name, mine, entry, method):
    rdm = mine["rdm"].iloc[-1]
    if rdm.n_stimuli < 3 or np.ptp(rdm.vector()) == 0:
        return
    from ...plots import plot_mds

    layer = mine["layer"].iloc[-1]
    images = _group_images(run, entry, rdm.stimulus_ids)
    fig = plot_mds(rdm, labels=list(rdm.stimulus_ids), images=images,
                   title=f"{name} · {layer}")
    run.record.add_figure(
        fig, f"meta_rdm_mds_{slug(name)}", section=S_META,
        title=f"MDS of the meta-RDM in the last layer of {name}",
        caption=f"Each point is one of the {_groups(entry)}, placed by MDS of the meta-RDM "
                f"of {name}'s last layer ({layer}): close points have RDMs that order their "
                f"entries alike (1 - {method}). Thumbnails show a stimulus of each, as "
                "pytorch_feature_analysis draws its second-order MDS plots. Kruskal's stress "
                "(lower right) says how faithful the map is.")


def _group_images(run, entry, ids):
    """The first stimulus of each meta-RDM entry, when the entry variables are columns."""
    meta = run.stimuli.metadata
    if not all(c in meta.columns for c in entry):
        return None
    labels = meta[entry].astype(str).agg("|".join, axis=1).to_numpy()
    images = []
    for label in ids:
        where = np.flatnonzero(labels == label)
        images.append(run.stimuli.load(int(where[0])) if len(where) else None)
    return images
