"""The zoo's architectures: small networks for 8 x 8 grayscale digits, in a registry.

Every activation point is its own module with a readable name (``conv1``,
``relu1``, ``block1.conv_a``, ``logits``), so the layer address book lists
them and forward hooks fire once per module.
"""

from __future__ import annotations

import torch
from torch import nn

from .._validation import Registry

__all__ = ["ARCHITECTURES", "build", "count_parameters", "list_architectures"]

ARCHITECTURES = Registry("zoo architecture")


def list_architectures() -> list[str]:
    """Names of the registered zoo architectures, sorted."""
    return sorted(ARCHITECTURES)


def build(architecture: str, *, seed: int, width: int = 1) -> nn.Module:
    """Build a zoo architecture with its seeded initial weights.

    The weights are drawn from torch's global generator seeded with
    ``seed``, inside :func:`torch.random.fork_rng`, so the caller's random
    state is left untouched. Training an entry starts from exactly these
    weights, so ``build(arch, seed=entry_seed, width=w)`` is the untrained twin
    of the entry.

    Parameters
    ----------
    architecture : str
        A registered architecture; see :func:`list_architectures`.
    seed : int
        Seed of the random initialisation.
    width : int, default=1
        Multiplies the number of channels (or hidden units) of every layer.

    Returns
    -------
    torch.nn.Module
        Takes a batch of shape (n_stimuli, 1, 8, 8), normalised with the
        zoo's mean and std, and returns 10 logits per stimulus.

    Raises
    ------
    ValueError
        If ``architecture`` is unknown (with a did-you-mean), or ``seed`` or
        ``width`` is not a non-negative (positive) int.

    Examples
    --------
    >>> net = build("convnet", seed=0)
    >>> net(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    >>> [name for name, _ in net.named_children()][:4]
    ['conv1', 'relu1', 'conv2', 'relu2']
    """
    factory = ARCHITECTURES.get_checked(architecture)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}.")
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be a positive int, got {width!r}.")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return factory(width=width)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


@ARCHITECTURES.register("convnet")
class ConvNet(nn.Module):
    """Plain conv stack: 3 conv layers (16, 32, 64 channels x width), 2 pools, 2 dense layers."""

    def __init__(self, *, width: int = 1):
        super().__init__()
        c1, c2, c3, hidden = 16 * width, 32 * width, 64 * width, 64 * width
        self.conv1 = nn.Conv2d(1, c1, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)  # 8x8 -> 4x4
        self.conv3 = nn.Conv2d(c2, c3, 3, padding=1)
        self.relu3 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)  # 4x4 -> 2x2
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(c3 * 4, hidden)
        self.relu_fc = nn.ReLU()
        self.logits = nn.Linear(hidden, 10)

    def forward(self, x):
        x = self.pool1(self.relu2(self.conv2(self.relu1(self.conv1(x)))))
        x = self.pool2(self.relu3(self.conv3(x)))
        return self.logits(self.relu_fc(self.fc(self.flatten(x))))


class _ResidualBlock(nn.Module):
    """conv_a -> bn_a -> relu_a -> conv_b -> bn_b, plus the shortcut, -> relu_out."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv_a = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.bn_a = nn.BatchNorm2d(c_out)
        self.relu_a = nn.ReLU()
        self.conv_b = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn_b = nn.BatchNorm2d(c_out)
        # A 1x1 projection where the channel count changes, identity otherwise.
        self.shortcut = (nn.Identity() if c_in == c_out
                         else nn.Conv2d(c_in, c_out, 1, bias=False))
        self.relu_out = nn.ReLU()

    def forward(self, x):
        y = self.bn_b(self.conv_b(self.relu_a(self.bn_a(self.conv_a(x)))))
        return self.relu_out(y + self.shortcut(x))


@ARCHITECTURES.register("resnet")
class ResNet(nn.Module):
    """Small residual net: conv stem, 2 residual blocks with skip connections (16, 32 x width)."""

    def __init__(self, *, width: int = 1):
        super().__init__()
        c1, c2 = 16 * width, 32 * width
        self.conv1 = nn.Conv2d(1, c1, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c1)
        self.relu1 = nn.ReLU()
        self.block1 = _ResidualBlock(c1, c1)
        self.pool1 = nn.MaxPool2d(2)  # 8x8 -> 4x4
        self.block2 = _ResidualBlock(c1, c2)
        self.pool2 = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.logits = nn.Linear(c2, 10)

    def forward(self, x):
        x = self.pool1(self.block1(self.relu1(self.bn1(self.conv1(x)))))
        return self.logits(self.flatten(self.pool2(self.block2(x))))


@ARCHITECTURES.register("mlp")
class MLP(nn.Module):
    """Multilayer perceptron on the 64 pixels: 2 hidden layers (128, 64 units x width)."""

    def __init__(self, *, width: int = 1):
        super().__init__()
        h1, h2 = 128 * width, 64 * width
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(64, h1)
        self.relu1 = nn.ReLU()
        self.fc2 = nn.Linear(h1, h2)
        self.relu2 = nn.ReLU()
        self.logits = nn.Linear(h2, 10)

    def forward(self, x):
        x = self.relu1(self.fc1(self.flatten(x)))
        return self.logits(self.relu2(self.fc2(x)))
