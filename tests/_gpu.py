"""Whether this machine has a CUDA GPU, found once for the whole test run.

A GPU machine runs the CUDA tests; a CPU-only one skips them and runs the
"no GPU here" error tests instead.
"""

import pytest


def _has_cuda() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency
        return False
    return bool(torch.cuda.is_available())


HAS_CUDA = _has_cuda()
needs_cuda = pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")
needs_no_cuda = pytest.mark.skipif(HAS_CUDA, reason="a CUDA GPU is present")
