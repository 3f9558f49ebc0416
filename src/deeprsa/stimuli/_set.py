"""StimulusSet: the ordered stimuli a network is shown, with labels and metadata.

A :class:`StimulusSet` holds one row per stimulus in a pandas DataFrame whose
index is the stimulus id. Images live either on disk (a ``path`` column) or in
memory (an array), and are loaded one at a time as float tensors in [0, 1] of
shape ``(channels, height, width)``.

Image files are read with Pillow. 8-bit grayscale and RGB load as they are.
Everything else is converted, and each kind of conversion is reported once
per stimulus set (an :class:`ImageConversionWarning` naming the first file):
16-bit (and 32-bit integer) grayscale is scaled by its full range (65535),
never clipped at 255; an alpha channel (RGBA, LA, a palette or RGB with a
transparent colour) is composited on a white background; palette, CMYK,
1-bit and other modes are converted to RGB or grayscale by Pillow. A file
that cannot be decoded (empty, truncated, a bad checksum, a directory) is a
ValueError naming the file and its row.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .._validation import check_random_state, read_json, suggest

__all__ = ["StimulusSet", "IMAGE_EXTENSIONS", "ImageConversionWarning"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")
BACKGROUND = (255, 255, 255)  # what transparent pixels become (white)


class ImageConversionWarning(UserWarning):
    """Images of a stimulus set were converted (16-bit scaled, alpha composited, ...)."""


class StimulusSet:
    """Ordered stimuli with ids, labels, metadata columns and image loading.

    Use the constructors :meth:`from_meta_json`, :meth:`from_csv`,
    :meth:`from_folder` and :meth:`from_arrays` (or
    :func:`deeprsa.digits`) rather than calling this directly.

    Parameters
    ----------
    metadata : pandas.DataFrame
        One row per stimulus, indexed by unique string stimulus ids. A
        ``path`` column names image files; a ``label`` column holds classes.
    images : ndarray of shape (n_stimuli, height, width) or (n_stimuli, channels, height, width), optional
        In-memory images, float in [0, 1] or uint8 in [0, 255]. When given,
        ``metadata`` must not need a ``path`` column.
    root : str or Path, optional
        Directory relative to which ``path`` entries are resolved.

    Attributes
    ----------
    stimulus_ids : tuple of str
        Stimulus ids, in order.
    metadata : pandas.DataFrame
        Metadata, indexed by stimulus id (a copy is returned).

    Examples
    --------
    >>> import numpy as np
    >>> stim = StimulusSet.from_arrays(np.zeros((4, 8, 8)), labels=[0, 1, 0, 1])
    >>> stim.stimulus_ids
    ('0', '1', '2', '3')
    >>> stim.load(0).shape
    torch.Size([1, 8, 8])
    >>> stim.sort_by("label").stimulus_ids
    ('0', '2', '1', '3')
    """

    def __init__(self, metadata: pd.DataFrame, *, images: np.ndarray | None = None, root=None):
        meta = metadata.copy()
        meta.index = meta.index.map(str)
        meta.index.name = "stimulus_id"
        dup = meta.index[meta.index.duplicated()].unique().tolist()
        if dup:
            raise ValueError(
                f"Stimulus ids must be unique; {len(dup)} id(s) repeat, e.g. {dup[:5]}. "
                "Give each stimulus its own id (for example the file name with its folder)."
            )
        if images is None and "path" not in meta.columns:
            raise ValueError(
                "A StimulusSet needs either in-memory images or a 'path' column; the "
                f"metadata has columns {sorted(map(str, meta.columns))}."
            )
        if images is not None:
            images = _check_images(images)
            if len(images) != len(meta):
                raise ValueError(
                    f"Got {len(images)} images for {len(meta)} rows of metadata."
                )
        self._meta = meta
        self._images = images
        self._root = Path(root) if root is not None else None
        self._hash: str | None = None
        self._reported: set = set()  # kinds of image conversion already reported

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_arrays(cls, images, *, labels=None, stimulus_ids=None, metadata=None):
        """Build a stimulus set from in-memory images.

        Parameters
        ----------
        images : array-like of shape (n_stimuli, height, width) or (n_stimuli, channels, height, width)
            Float images in [0, 1] or uint8 images in [0, 255]. Channels-last
            arrays of shape (n, h, w, 3) are transposed automatically.
        labels : sequence, optional
            Class of each stimulus, stored in the ``label`` column.
        stimulus_ids : sequence of str, optional
            Defaults to ``"0"``, ``"1"``, ...
        metadata : pandas.DataFrame or dict of sequences, optional
            Further columns, one row per stimulus.
        """
        images = _check_images(images)
        n = len(images)
        ids = [str(i) for i in range(n)] if stimulus_ids is None else [str(s) for s in stimulus_ids]
        if len(ids) != n:
            raise ValueError(f"Got {len(ids)} stimulus_ids for {n} images.")
        meta = pd.DataFrame(index=pd.Index(ids, name="stimulus_id"))
        if metadata is not None:
            extra = pd.DataFrame(metadata)
            if len(extra) != n:
                raise ValueError(f"metadata has {len(extra)} rows for {n} images.")
            for col in extra.columns:
                meta[col] = np.asarray(extra[col])
        if labels is not None:
            labels = list(labels)
            if len(labels) != n:
                raise ValueError(f"Got {len(labels)} labels for {n} images.")
            meta["label"] = labels
        return cls(meta, images=images)

    @classmethod
    def from_meta_json(cls, path, *, root=None, filename_key="filename", label_key="class"):
        """Read a ``meta.json``: one record per image with file name and class.

        The format of the object-classification RSA study (``filename``, ``class``).

        Accepts a list of records (``[{"filename": ..., "class": ...}, ...]``) or a
        mapping of id to record. Every other key becomes a metadata column.
        File names are resolved relative to ``root`` (default: the JSON's folder).
        """
        path = Path(path)
        data = read_json(path, "Stimulus meta file", invalid=repr(str(path)))
        if isinstance(data, dict):
            bad = next((k for k, v in data.items() if not isinstance(v, dict)), None)
            if bad is not None:
                raise ValueError(f"{str(path)!r}: the record of {bad!r} is not a mapping of "
                                 "fields (filename, class, ...).")
            records = [{"stimulus_id": k, **v} for k, v in data.items()]
        elif isinstance(data, list):
            bad = next((i for i, r in enumerate(data) if not isinstance(r, dict)), None)
            if bad is not None:
                raise ValueError(f"{str(path)!r}: record {bad} is a {type(data[bad]).__name__}, "
                                 "not a mapping of fields (filename, class, ...).")
            records = list(data)
        else:
            raise ValueError(
                f"{str(path)!r} must hold a list of records or a mapping of id to record, "
                f"got {type(data).__name__}."
            )
        frame = pd.DataFrame.from_records(records)
        return cls._from_table(
            frame, source=str(path), root=root if root is not None else path.parent,
            path_column=filename_key, label_column=label_key,
        )

    @classmethod
    def from_csv(cls, path, *, root=None, path_column="path", label_column="label",
                 id_column=None):
        """Read a CSV with one row per image: a file column, an optional label, metadata.

        Parameters
        ----------
        path : str or Path
            The CSV file.
        root : str or Path, optional
            Folder the file column is relative to (default: the CSV's folder).
        path_column, label_column : str
            Names of the file and class columns (``label_column`` may be absent).
        id_column : str, optional
            Column of stimulus ids; defaults to the file path.
        """
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"Stimulus CSV {str(path)!r} does not exist.")
        try:
            frame = pd.read_csv(path)
        except (ValueError, OSError) as err:  # pandas' parser errors are ValueErrors
            raise ValueError(f"Stimulus CSV {str(path)!r} cannot be read: "
                             f"{str(err).strip() or type(err).__name__}.") from None
        return cls._from_table(
            frame, source=str(path), root=root if root is not None else path.parent,
            path_column=path_column, label_column=label_column, id_column=id_column,
        )

    @classmethod
    def from_folder(cls, folder, *, extensions=IMAGE_EXTENSIONS):
        """Read every image in a folder, flat or with one subfolder per class.

        With subfolders, the subfolder name is the ``label``. Stimulus ids are
        the paths relative to ``folder``, sorted.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"Stimulus folder {str(folder)!r} does not exist.")
        exts = {e.lower() for e in extensions}
        files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in exts)
        if not files:
            raise ValueError(
                f"No images with extensions {sorted(exts)} found in {str(folder)!r}."
            )
        rel = [p.relative_to(folder) for p in files]
        deep = [r for r in rel if len(r.parts) > 2]
        if deep:
            raise ValueError(
                f"{str(folder)!r} nests images more than one folder deep, e.g. {str(deep[0])!r}. "
                "Use a flat folder or one subfolder per class."
            )
        frame = pd.DataFrame({"path": [r.as_posix() for r in rel]},
                             index=pd.Index([r.as_posix() for r in rel], name="stimulus_id"))
        if any(len(r.parts) == 2 for r in rel):
            flat = [r for r in rel if len(r.parts) == 1]
            if flat:
                raise ValueError(
                    f"{str(folder)!r} mixes images in class subfolders with loose images, e.g. "
                    f"{str(flat[0])!r}. Move loose images into a class folder."
                )
            frame["label"] = [r.parts[0] for r in rel]
        return cls(frame, root=folder)

    @classmethod
    def _from_table(cls, frame, *, source, root, path_column, label_column, id_column=None):
        columns = sorted(map(str, frame.columns))
        if path_column not in frame.columns:
            raise ValueError(
                f"{source!r} has no {path_column!r} column naming the image files."
                f"{suggest(path_column, columns)} Columns: {columns}."
            )
        frame = frame.rename(columns={path_column: "path"})
        if label_column in frame.columns and label_column != "label":
            frame = frame.rename(columns={label_column: "label"})
        if id_column is not None:
            if id_column not in frame.columns:
                raise ValueError(
                    f"{source!r} has no id column {id_column!r}.{suggest(id_column, columns)} "
                    f"Columns: {columns}."
                )
            frame = frame.set_index(id_column)
        elif "stimulus_id" in frame.columns:
            frame = frame.set_index("stimulus_id")
        else:
            frame.index = frame["path"].astype(str)
        missing = frame["path"].isna()
        if missing.any():
            row = int(np.flatnonzero(missing.to_numpy())[0])
            raise ValueError(f"{source!r} row {row} has no image file name.")
        ids = frame.index.map(str)
        dup = ids[ids.duplicated()].unique().tolist()
        if dup:
            raise ValueError(
                f"{source!r} lists {len(dup)} stimulus id(s) more than once, e.g. {dup[:5]}. "
                "Each image must appear once."
            )
        return cls(frame, root=root)

    # ------------------------------------------------------------------ properties
    @property
    def stimulus_ids(self) -> tuple[str, ...]:
        return tuple(self._meta.index)

    @property
    def metadata(self) -> pd.DataFrame:
        return self._meta.copy()

    @property
    def labels(self) -> np.ndarray | None:
        """The ``label`` column, or None when there is none."""
        return self._meta["label"].to_numpy() if "label" in self._meta.columns else None

    def __len__(self) -> int:
        return len(self._meta)

    def __repr__(self) -> str:
        cols = [c for c in self._meta.columns if c != "path"]
        kind = "in memory" if self._images is not None else f"files under {self._root}"
        return f"<StimulusSet: {len(self)} stimuli ({kind}); columns {cols}>"

    # ------------------------------------------------------------------ loading
    def path(self, index: int) -> Path:
        """Absolute path of stimulus ``index`` (file-backed sets only)."""
        p = Path(str(self._meta["path"].iloc[index]))
        return p if p.is_absolute() or self._root is None else self._root / p

    def load(self, index: int):
        """Stimulus ``index`` as a float tensor of shape (channels, height, width) in [0, 1].

        Raises
        ------
        FileNotFoundError, ValueError
            If the file is missing or cannot be decoded; the message names the
            file and its row.
        """
        import torch

        if self._images is not None:
            return torch.from_numpy(self._images[index])
        path = self.path(index)
        tensor, conversion = _read_image(path, row=index, stimulus_id=self._meta.index[index])
        if conversion is not None and conversion not in self._reported:
            self._reported.add(conversion)
            import warnings

            warnings.warn(
                f"{conversion}, e.g. {str(path)!r} (row {index}, stimulus "
                f"{self._meta.index[index]!r}); reported once per stimulus set.",
                ImageConversionWarning, stacklevel=2)
        return tensor

    def content_hash(self) -> str:
        """A hash of the ids and the content of every stimulus (image bytes or pixels).

        Two sets with the same hash show a network exactly the same inputs in
        the same order; the store uses it to refuse stale activations.
        """
        if self._hash is None:
            h = hashlib.blake2b(digest_size=16)
            h.update(json.dumps(list(self.stimulus_ids)).encode())
            if self._images is not None:
                h.update(str(self._images.shape).encode())
                h.update(np.ascontiguousarray(self._images).tobytes())
            else:
                for i in range(len(self)):
                    path = self.path(i)
                    try:
                        h.update(path.read_bytes())
                    except FileNotFoundError:
                        raise FileNotFoundError(
                            f"Image {str(path)!r} (row {i}, stimulus "
                            f"{self._meta.index[i]!r}) does not exist."
                        ) from None
                    except OSError as err:
                        raise ValueError(_unreadable(path, i, self._meta.index[i], err)) from None
            self._hash = h.hexdigest()
        return self._hash

    # ------------------------------------------------------------------ selections
    def _take(self, positions) -> StimulusSet:
        positions = np.asarray(positions, dtype=int)
        images = None if self._images is None else self._images[positions]
        return StimulusSet(self._meta.iloc[positions], images=images, root=self._root)

    def subset(self, stimulus_ids: Sequence[str]) -> StimulusSet:
        """Restrict to, and reorder by, ``stimulus_ids``."""
        position = {s: i for i, s in enumerate(self.stimulus_ids)}
        wanted = [str(s) for s in stimulus_ids]
        missing = [s for s in wanted if s not in position]
        if missing:
            raise KeyError(
                f"{len(missing)} requested stimulus id(s) are not in this set, e.g. "
                f"{missing[:3]}.{suggest(missing[0], position)}"
            )
        return self._take([position[s] for s in wanted])

    def sort_by(self, columns, *, ascending=True) -> StimulusSet:
        """Reorder stimuli by one or more metadata columns (stable sort)."""
        cols = [columns] if isinstance(columns, str) else list(columns)
        self._check_columns(cols)
        order = self._meta.reset_index(drop=True).sort_values(
            cols, ascending=ascending, kind="stable").index.to_numpy()
        return self._take(order)

    def sample(self, n_per_class: int, *, seed=None, column: str = "label") -> StimulusSet:
        """Draw ``n_per_class`` stimuli from each class, without replacement.

        The result keeps the original order of the drawn stimuli. ``seed``
        accepts None, an int or a ``numpy.random.Generator``.
        """
        self._check_columns([column])
        if not isinstance(n_per_class, (int, np.integer)) or n_per_class < 1:
            raise ValueError(f"n_per_class must be a positive int, got {n_per_class!r}.")
        rng = check_random_state(seed)
        values = self._meta[column].to_numpy()
        chosen = []
        for cls in pd.unique(values):
            members = np.flatnonzero(values == cls)
            if len(members) < n_per_class:
                raise ValueError(
                    f"Class {cls!r} of column {column!r} has {len(members)} stimuli; cannot "
                    f"sample {n_per_class} per class. Use n_per_class <= {len(members)}."
                )
            chosen.append(rng.choice(members, size=n_per_class, replace=False))
        return self._take(np.sort(np.concatenate(chosen)))

    def _check_columns(self, cols):
        available = sorted(map(str, self._meta.columns))
        for col in cols:
            if col not in self._meta.columns:
                raise KeyError(
                    f"No metadata column {col!r}.{suggest(col, available)} "
                    f"Columns: {available}."
                )


def _check_images(images) -> np.ndarray:
    arr = np.asarray(images)
    if arr.ndim == 3:
        arr = arr[:, None]
    elif arr.ndim == 4 and arr.shape[-1] in (1, 3, 4) and arr.shape[1] not in (1, 3, 4):
        arr = np.moveaxis(arr, -1, 1)
    if arr.ndim != 4:
        raise ValueError(
            "images must have shape (n, height, width) or (n, channels, height, width); "
            f"got {arr.shape}."
        )
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr, dtype=np.float32) / np.float32(255)
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if arr.size and not np.isfinite(arr).all():
        raise ValueError("images contain NaN or infinity.")
    if arr.size and (arr.min() < 0 or arr.max() > 1):
        raise ValueError(
            f"Float images must lie in [0, 1]; got values in [{arr.min():.3g}, {arr.max():.3g}]. "
            "Divide by the maximum (e.g. 255) first."
        )
    return arr


def _unreadable(path, row, stimulus_id, err) -> str:
    why = ("it is a directory, not an image file" if Path(path).is_dir() else
           "the file is empty (0 bytes)" if Path(path).is_file() and not Path(path).stat().st_size
           else f"{err}")
    return (f"Image {str(path)!r} (row {row}, stimulus {stimulus_id!r}) cannot be read: {why}. "
            "Replace the file or drop it from the stimulus list.")


def _read_image(path: Path, *, row: int, stimulus_id: str):
    """``(tensor in [0, 1] of shape (C, H, W), conversion or None)`` of one image file."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            return _to_tensor(img)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"Image {str(path)!r} (row {row}, stimulus {stimulus_id!r}) does not exist."
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ValueError(_unreadable(path, row, stimulus_id, err)) from None


def _to_tensor(img):
    """An opened image as a float tensor in [0, 1], and the conversion it needed (or None)."""
    import torch
    from PIL import Image
    from torchvision.transforms.functional import pil_to_tensor

    mode = img.mode
    if mode in ("L", "RGB") and "transparency" not in img.info:
        return pil_to_tensor(img).float().div_(255.0), None
    if mode.startswith("I"):  # 16-bit (I;16, I;16B, ...) and 32-bit integer grayscale
        pixels = np.asarray(img).astype(np.float64)
        if pixels.min() < 0 or pixels.max() > 65535:
            raise ValueError(f"integer pixels in [{pixels.min():.0f}, {pixels.max():.0f}], "
                             "outside 0-65535")
        tensor = torch.from_numpy((pixels / 65535).astype(np.float32))[None]
        return tensor, "16-bit grayscale images were scaled by 65535 (their full range)"
    if mode == "F":
        pixels = np.asarray(img, dtype=np.float32)
        if not np.isfinite(pixels).all() or pixels.min() < 0 or pixels.max() > 1:
            raise ValueError(f"floating-point pixels in [{pixels.min():.3g}, "
                             f"{pixels.max():.3g}], outside [0, 1]; rescale the file")
        return torch.from_numpy(pixels)[None], "floating-point grayscale images were read as is"
    if mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
        flat = Image.alpha_composite(background, rgba).convert("L" if mode in ("LA", "La")
                                                                else "RGB")
        return (pil_to_tensor(flat).float().div_(255.0),
                f"images with transparency ({mode}) were composited on a white background")
    target = "L" if mode == "1" else "RGB"
    return (pil_to_tensor(img.convert(target)).float().div_(255.0),
            f"{_MODE_NAMES.get(mode, mode)} images were converted to "
            f"{'grayscale' if target == 'L' else 'RGB'}")


_MODE_NAMES = {"P": "palette", "CMYK": "CMYK", "1": "1-bit", "YCbCr": "YCbCr", "LAB": "Lab",
               "HSV": "HSV"}
