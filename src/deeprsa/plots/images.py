"""Image grids: the stimuli, one row per class, and the image conversions the figures share.

:func:`plot_images` lays the stimuli out in one mosaic, a row per class as in
the ManteLab course notebook on representations in deep networks;
``_as_image`` turns a tensor or array in any channel order into something
matplotlib shows (also used for the thumbnails of MDS maps).
"""

from __future__ import annotations

import numpy as np

from ._base import _class_order, _finish, _new_figure, _styled


def _as_image(image):
    """(C, H, W) / (H, W, C) / (H, W) tensor or array -> (H, W) or (H, W, 3) numpy."""
    arr = image.detach().cpu().numpy() if hasattr(image, "detach") else np.asarray(image)
    arr = np.asarray(arr, dtype=np.float32)
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3):
        arr = np.moveaxis(arr, 0, -1)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3):
        raise ValueError(f"An image must be (H, W), (C, H, W) or (H, W, C); got {arr.shape}.")
    return arr


def _images_and_labels(stimuli, labels, label_column):
    if hasattr(stimuli, "load") and hasattr(stimuli, "metadata"):
        meta = stimuli.metadata
        if labels is None and label_column in meta.columns:
            labels = meta[label_column].to_numpy()
        return [stimuli.load(i) for i in range(len(stimuli))], labels
    arr = np.asarray(stimuli)
    if arr.ndim not in (3, 4):
        raise ValueError(f"images must be (n, H, W), (n, C, H, W) or (n, H, W, C); got "
                         f"{arr.shape}.")
    return list(arr), labels


@_styled
def plot_images(stimuli, *, labels=None, n_per_class=8, label_column="label", ncols=None,
                title=None, path=None):
    """A grid of stimuli: one row per class, or plain rows without labels.

    The rows of classes are those of the ManteLab course notebook on
    representations in deep networks.

    Parameters
    ----------
    stimuli : StimulusSet or array-like of shape (n, H, W), (n, C, H, W) or (n, H, W, C)
        Images in [0, 1]. A StimulusSet brings its labels (``label_column``).
    labels : sequence, optional
        Class of each image; rows are classes in sorted order, holding the
        first ``n_per_class`` images of the class.
    n_per_class : int, default=8
    label_column : str, default="label"
    ncols : int, optional
        Images per row without labels; default 10.
    title : str, optional
    path : str or Path, optional
        Also save the figure there as PNG and SVG.

    Returns
    -------
    matplotlib.figure.Figure
        One axes showing the mosaic; with labels, its y tick labels are the
        classes, one per row. Images of other sizes are resized (nearest
        neighbour) to the first one's.

    Examples
    --------
    >>> import numpy as np
    >>> images = np.random.default_rng(0).random((6, 8, 8))
    >>> fig = plot_images(images, labels=["a", "b", "a", "b", "a", "b"], n_per_class=2)
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
    ['a', 'b']
    """
    images, labels = _images_and_labels(stimuli, labels, label_column)
    if not images:
        raise ValueError("No images to plot.")
    if not isinstance(n_per_class, (int, np.integer)) or n_per_class < 1:
        raise ValueError(f"n_per_class must be a positive int, got {n_per_class!r}.")
    if labels is not None:
        if len(labels) != len(images):
            raise ValueError(f"labels has {len(labels)} entries for {len(images)} images.")
        order, codes, names = _class_order(np.asarray(labels, dtype=object))
        rows = [(name, [int(i) for i, code in zip(order, codes, strict=True) if code == c]
                 [:n_per_class]) for c, name in enumerate(names)]
        ncols = max(len(m) for _, m in rows)
    else:
        ncols = min(ncols or 10, len(images))
        rows = [(None, list(range(s, min(s + ncols, len(images)))))
                for s in range(0, len(images), ncols)]
    first = _as_image(images[0])
    h, w = first.shape[:2]
    rgb = any(_as_image(images[i]).ndim == 3 for _, m in rows for i in m)
    gap = max(1, h // 8)
    shape = (len(rows) * (h + gap) - gap, ncols * (w + gap) - gap) + ((3,) if rgb else ())
    mosaic = np.ones(shape, dtype=np.float32)
    for r, (_, members) in enumerate(rows):
        for c, index in enumerate(members):
            arr = _fit_image(_as_image(images[index]), h, w, rgb)
            mosaic[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = arr
    cell = min(0.5, 6.4 / ncols)
    fig = _new_figure(cell * ncols + (0.45 if labels is not None else 0.15),
                      cell * len(rows) * h / w + (0.4 if title else 0.15))
    ax = fig.add_subplot()
    ax.imshow(np.clip(mosaic, 0, 1), cmap=None if rgb else "gray", vmin=0, vmax=1,
              interpolation="nearest" if h <= 32 else "antialiased")  # pixels vs photos
    ax.spines[:].set_visible(False)
    ax.set_xticks([])
    if labels is not None:
        ax.set_yticks([r * (h + gap) + (h - 1) / 2 for r in range(len(rows))],
                      [name for name, _ in rows])
        ax.tick_params(axis="y", length=0)
    else:
        ax.set_yticks([])
    if title:
        ax.set_title(title)
    return _finish(fig, path)


def _fit_image(arr, h, w, rgb):
    """Nearest-neighbour resize to (h, w); grey to RGB when the mosaic is in colour."""
    if arr.shape[:2] != (h, w):
        rows = (np.arange(h) * arr.shape[0] / h).astype(int)
        cols = (np.arange(w) * arr.shape[1] / w).astype(int)
        arr = arr[rows][:, cols]
    if rgb and arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    return arr
