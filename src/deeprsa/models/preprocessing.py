"""Turn a loaded stimulus (float tensor in [0, 1]) into what a network expects."""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["Preprocessing", "IMAGENET_DEFAULT"]


@dataclass(frozen=True)
class Preprocessing:
    """Per-image preprocessing: channels, resize, centre crop, normalisation.

    Applied to each stimulus tensor of shape (channels, height, width) in
    [0, 1]. Grayscale stimuli are repeated to three channels for RGB models
    (and RGB averaged to one channel for grayscale models), so any stimulus
    set works with any model without user code.

    Parameters
    ----------
    channels : int
        Channels the network expects (1 or 3).
    resize : int or tuple of int or None
        Resize before cropping: an int resizes the shorter side (keeping the
        aspect ratio), a (height, width) tuple resizes exactly.
    crop : tuple of int or None
        Centre crop (height, width) after resizing.
    mean, std : tuple of float
        Per-channel normalisation, ``(x - mean) / std``.
    interpolation : str, default="bilinear"
        A ``torchvision.transforms.InterpolationMode`` value.

    Notes
    -----
    The default for ImageNet models without weight-specific transforms
    (:data:`IMAGENET_DEFAULT`) is torchvision's classic recipe: resize the
    shorter side to 256, centre crop 224 x 224, normalise with the ImageNet
    mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225).
    """

    channels: int = 3
    resize: int | tuple[int, int] | None = 256
    crop: tuple[int, int] | None = (224, 224)
    mean: tuple[float, ...] = (0.485, 0.456, 0.406)
    std: tuple[float, ...] = (0.229, 0.224, 0.225)
    interpolation: str = "bilinear"

    @property
    def input_shape(self) -> tuple[int, int, int] | None:
        """(channels, height, width) of the network input, when fixed."""
        if self.crop is not None:
            return (self.channels, *self.crop)
        if isinstance(self.resize, tuple):
            return (self.channels, *self.resize)
        return None

    def __call__(self, image):
        import torch
        from torchvision.transforms import InterpolationMode
        from torchvision.transforms import functional as F

        img = image
        if img.ndim != 3:
            raise ValueError(f"Expected an image of shape (channels, h, w), got {tuple(img.shape)}.")
        c = img.shape[0]
        if c == 4:
            img, c = img[:3], 3
        if c != self.channels:
            if c == 1 and self.channels == 3:
                img = img.expand(3, -1, -1)
            elif c == 3 and self.channels == 1:
                img = F.rgb_to_grayscale(img)
            else:
                raise ValueError(
                    f"Cannot turn a {c}-channel stimulus into the {self.channels} channels "
                    "this model expects."
                )
        mode = InterpolationMode(self.interpolation)
        if self.resize is not None:
            size = list(self.resize) if isinstance(self.resize, tuple) else [self.resize]
            if tuple(img.shape[-2:]) != tuple(size):
                img = F.resize(img, size, interpolation=mode, antialias=True)
        if self.crop is not None:
            img = F.center_crop(img, list(self.crop))
        img = img.to(torch.float32)
        return F.normalize(img, list(self.mean), list(self.std))

    def to_dict(self) -> dict:
        """JSON-ready description (goes into the store manifest)."""
        d = asdict(self)
        for k in ("resize", "crop", "mean", "std"):
            if isinstance(d[k], tuple):
                d[k] = list(d[k])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Preprocessing:
        d = dict(d)
        for k in ("crop", "mean", "std"):
            if d.get(k) is not None:
                d[k] = tuple(d[k])
        if isinstance(d.get("resize"), list):
            d["resize"] = tuple(d["resize"])
        return cls(**d)

    @classmethod
    def from_torchvision_transforms(cls, transforms) -> Preprocessing:
        """Read a torchvision ``weights.transforms()`` preset (ImageClassification)."""
        crop = tuple(transforms.crop_size)
        crop = crop * 2 if len(crop) == 1 else crop
        resize = list(transforms.resize_size)
        return cls(
            channels=3,
            resize=resize[0] if len(resize) == 1 else tuple(resize),
            crop=crop,
            mean=tuple(float(m) for m in transforms.mean),
            std=tuple(float(s) for s in transforms.std),
            interpolation=transforms.interpolation.value,
        )


IMAGENET_DEFAULT = Preprocessing()
