"""Report section: every layer against brain or behavioural RDMs (the ``[[targets]]`` tables).

For each target: the layer profile of every model (score by depth with its
bootstrap interval, the target's noise ceiling, corrected p-values and the
best layer chosen by cross-validation over stimuli) and, when asked for,
weighted RSA over all layers.
"""

from __future__ import annotations

from ..config import ConfigError
from ._common import RunContext, method_name, slug

S_TARGETS = "Layers against targets"


def load_target(config, spec):
    """The RDMs of one ``[[targets]]`` table (paths relative to the config's folder)."""
    from ...rdm import load_rdms

    labels = spec.labels
    if isinstance(labels, str):
        path = config.resolve(labels)
        if not path.is_file():
            raise FileNotFoundError(f"Label file {str(path)!r} does not exist.")
        labels = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    return load_rdms(config.resolve(spec.path), stimulus_ids=labels, name=spec.name,
                     key=spec.key, format=spec.format)


def check_targets(config, stimulus_ids) -> None:
    """Every target loads and labels the run's stimuli (before any forward pass)."""
    from ...rdm import match_stimuli

    for spec in config.targets:
        try:
            match_stimuli(load_target(config, spec), stimulus_ids,
                          what=f"target {spec.name or spec.path!r}",
                          other="the run's stimuli")
        except (ValueError, TypeError, KeyError, FileNotFoundError, ImportError) as err:
            raise ConfigError(f"{spec.key_name}.path",
                              f"config key '{spec.key_name}': {err}") from None


def targets_section(run: RunContext) -> None:
    """Each target: layer profiles of every model, and weighted RSA when asked for."""
    from ...analyses import layer_profile, weighted_rsa

    layers = [run.rdms[(name, layer, run.measure)] for name in run.names
              for layer in run.layers[name]]
    for spec in run.config.targets:
        target = load_target(run.config, spec)
        name = spec.name or str(target[0].provenance.get("target", "target"))
        profile = layer_profile(layers, target, method=spec.method, over=spec.over,
                                n_resamples=spec.n_resamples, confidence=spec.confidence,
                                correction=spec.correction, cv=spec.cv, seed=0)
        _profile_outputs(run, profile, spec, name, len(target))
        if spec.weighted is not None:
            weighted = weighted_rsa(layers, target, method=spec.weighted, cv=spec.cv, seed=0)
            _weighted_outputs(run, weighted, name)


def _profile_outputs(run, profile, spec, name, n_subjects):
    method = method_name(spec.method)
    ceiling = ("The grey band is the noise ceiling of the target: its lower edge compares "
               "each subject's RDM with the mean of the others, its upper edge with the mean "
               "of all (Nili et al. 2014); a layer inside it is as good as the data allow. "
               if n_subjects > 1 else "The target has one RDM, so it has no noise ceiling. ")
    run.record.add_table(
        profile.table, f"layer_profile_{slug(name)}", section=S_TARGETS,
        title=f"Every layer against {name}",
        caption=f"One row per layer of every model: estimate is the {method} comparison of "
                f"the layer's {run.measure} RDM with the RDMs of {name}, averaged over its "
                f"{n_subjects} RDM(s); ci_low and ci_high the {spec.confidence:.0%} bootstrap "
                f"interval over {spec.over}; p_value tests estimate > 0 (one-sided t-test "
                f"with the bootstrap standard error), p_corrected across every row "
                f"({spec.correction}); noise_ceiling_lower and _upper bound what any model "
                "can reach.")
    run.record.add_table(
        profile.folds, f"best_layer_folds_{slug(name)}", section=S_TARGETS,
        title=f"Best layer for {name}, fold by fold",
        caption=f"The best layer of each model is chosen by {spec.cv}-fold cross-validation "
                "over stimuli: each fold picks the layer with the highest score on its "
                "training stimuli (train_score) and scores it on its held-out stimuli only "
                "(held_out). The maximum over layers of the same data would be biased upward.")
    if run.wants("layer_profile"):
        from ...plots import plot_layer_profile

        fig = plot_layer_profile(profile)
        run.record.add_figure(
            fig, f"layer_profile_{slug(name)}", section=S_TARGETS,
            title=f"Layer profiles against {name}",
            caption=f"One panel per model, layers in depth order from left to right. The line "
                    f"is each layer's {method} comparison with {name} (averaged over its "
                    f"RDMs), the coloured band its {spec.confidence:.0%} bootstrap interval "
                    f"(resampling {spec.over}); filled circles are layers whose corrected "
                    f"p-value is at most 0.05, open circles the others. {ceiling}The star "
                    "marks the layer chosen by cross-validation over stimuli, and the label "
                    "gives its held-out score: read that number, not the peak of the line, as "
                    "how well the model's best layer matches the target.")
    for row in profile.best.itertuples():
        run.record.highlights.append(
            f"{name}: the best layer of {row.model} (chosen by cross-validation over stimuli) "
            f"is {row.layer}, held-out {method} {row.held_out:.2f}.")


def _weighted_outputs(run, weighted, name):
    method = method_name(weighted.method)
    run.record.add_table(
        weighted.weights, f"target_weights_{slug(name)}", section=S_TARGETS,
        title=f"Weighted RSA: layers mixed to fit {name}",
        caption="The non-negative weight of every layer's RDM in the mixture that best fits "
                f"the target's pooled RDM (least squares in the geometry of {method}, as "
                "rsatoolbox's fit_regress_nn; unit norm), fitted on every stimulus, and its "
                "mean and standard deviation over the cross-validation folds.")
    if run.wants("target_weights"):
        from ...plots import plot_weights

        fig = plot_weights(weighted)
        run.record.add_figure(
            fig, f"target_weights_{slug(name)}", section=S_TARGETS,
            title=f"Weighted RSA: the weight of each layer for {name}",
            caption=f"Each bar is one layer (coloured by model); its height is the layer's "
                    f"weight in the non-negative mixture of layer RDMs that best fits {name}, "
                    "the error bar the spread of that weight over the cross-validation folds. "
                    "Tall bars are the layers the mixture needs; a weight near 0 means the "
                    "other layers already explain what that layer adds. The title gives the "
                    f"mixture's {method} with {name} on held-out stimuli; where the layer "
                    "profile uses the same method, compare it with the best single layer's "
                    "held-out score.")
    run.record.highlights.append(
        f"{name}: weighted RSA over all layers reaches a held-out {method} of "
        f"{weighted.held_out:.2f}.")
