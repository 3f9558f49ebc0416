import numpy as np
import pytest

import deeprsa


@pytest.fixture(scope="session")
def digits_small():
    """Twenty real digit images (two per class) from the held-out split."""
    return deeprsa.digits(split="test").sample(2, seed=0)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
