"""Small networks for tests that need a `module:` source importable from a subprocess."""

import time

from torch import nn


class SlowNet(nn.Module):
    """A tiny conv net whose forward pass sleeps, so a test can kill it mid-run."""

    def __init__(self, delay=0.15):
        super().__init__()
        self.delay = delay
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(4 * 8 * 8, 10)

    def forward(self, x):
        time.sleep(self.delay)
        h = self.relu(self.conv(x))
        return self.fc(h.flatten(1))


def slow_net():
    return SlowNet()


def not_a_module():
    return 42


class _NaNWhereBright(nn.Module):
    """NaN for the stimuli whose mean input is above ``threshold``; the input elsewhere."""

    def __init__(self, threshold):
        super().__init__()
        self.threshold = threshold

    def forward(self, h):
        import torch

        bright = h.mean(dim=tuple(range(1, h.dim())), keepdim=True) > self.threshold
        return torch.where(bright, torch.full_like(h, float("nan")), h)


class NaNNet(nn.Module):
    """A tiny conv net whose ``bad`` layer is NaN for the brightest stimuli (a broken layer).

    The layers after it see the NaN replaced by 0, so only ``bad`` is affected.
    """

    def __init__(self, threshold=0.01):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bad = _NaNWhereBright(threshold)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(4 * 8 * 8, 10)

    def forward(self, x):
        import torch

        h = self.conv(x)
        b = torch.nan_to_num(self.bad(h), nan=0.0)
        return self.fc(self.relu(b).flatten(1))


def nan_net():
    return NaNNet()


class GatedNet(SlowNet):
    """SlowNet whose extraction waits, after its two probing passes, for the file named by
    ``DEEPRSA_TEST_GATE`` to exist: a test holds a writer mid-extraction while it starts
    another process."""

    def forward(self, x):
        import os

        self.calls = getattr(self, "calls", 0) + 1
        gate = os.environ.get("DEEPRSA_TEST_GATE")
        while gate and self.calls > 2 and not os.path.exists(gate):
            time.sleep(0.05)
        return super().forward(x)


def gated_net():
    return GatedNet(delay=0.0)
