"""The report sections of a run, in order; each reads the store the executor filled.

A section is ``func(run: RunContext)``: it reads what it needs from the store
(RDMs, comparisons, activations), runs its analysis, and adds tables, figures,
notes and highlights to the run record.
"""

from ._common import RunContext, Skip
from .cka import cka_section
from .comparisons import comparison_section, mds_section
from .layers import decoding_section, dimensionality_section
from .models import performance_section, srm_section
from .rdms import rdm_section, stimuli_section
from .selectivity import anova_section
from .stacks import meta_rdm_section, stack_section
from .subsets import subsets_section
from .targets import targets_section

__all__ = ["RunContext", "Skip", "sections"]


def sections(config):
    """``[(step name, section)]`` that ``config`` asks for, in report order."""
    steps = [("stimuli", stimuli_section), ("RDMs", rdm_section)]
    if config.rdm.stacked:
        steps.append(("RDM stack", stack_section))
    steps += [("comparisons", comparison_section), ("MDS", mds_section)]
    if config.targets:
        steps.append(("targets", targets_section))
    analyses = config.analyses
    for name, wanted, section in (
            ("meta-RDMs", analyses.meta_rdm, meta_rdm_section),
            ("CKA", analyses.cka, cka_section),
            ("dimensionality", analyses.dimensionality, dimensionality_section),
            ("SRM", analyses.srm, srm_section),
            ("performance", analyses.performance, performance_section),
            ("decoding", analyses.decoding, decoding_section),
            ("ANOVA", analyses.anova, anova_section),
            ("subsets", analyses.subsets, subsets_section)):
        if wanted is not None:
            steps.append((name, section))
    return steps
