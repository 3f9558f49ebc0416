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
