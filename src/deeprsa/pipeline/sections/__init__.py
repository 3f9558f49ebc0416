"""The report sections of a run, in order; each reads the store the executor filled.

A section is ``func(run: RunContext)``: it reads what it needs from the store
(RDMs, comparisons, activations), runs its analysis, and adds tables, figures,
notes and highlights to the run record.
"""

from ._common import RunContext, Skip
from .comparisons import comparison_section, mds_section
from .layers import decoding_section, dimensionality_section
from .models import performance_section, srm_section
from .rdms import rdm_section, stimuli_section
from .targets import targets_section

__all__ = ["RunContext", "Skip", "sections"]


def sections(config):
    """``[(step name, section)]`` that ``config`` asks for, in report order."""
    steps = [("stimuli", stimuli_section), ("RDMs", rdm_section),
             ("comparisons", comparison_section), ("MDS", mds_section)]
    if config.targets:
        steps.append(("targets", targets_section))
    analyses = config.analyses
    for name, wanted, section in (
            ("dimensionality", analyses.dimensionality, dimensionality_section),
            ("SRM", analyses.srm, srm_section),
            ("performance", analyses.performance, performance_section),
            ("decoding", analyses.decoding, decoding_section)):
        if wanted is not None:
            steps.append((name, section))
    return steps
