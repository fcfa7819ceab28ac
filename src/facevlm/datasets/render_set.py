"""Multiview renders as one versioned catalog artifact that loads lazily.

A render run produces thousands of small images (samples × views). Saving them as one pickled
array would make every consumer load everything and would hide the images from people; saving
them as a ``PartitionedDataset`` would lose the sample table that says which image is which.
``RenderSetDataset`` writes a folder per version::

    <filepath>/<version>/<name>/
        samples.parquet        one row per sample: sample_id, subject, expression, ... (the index)
        settings.json          the render settings and the view names
        images/<sample_id>/<view>.png   (a set of several modalities:
                               images/<modality>/<sample_id>/<view>.png)
        views.npy, views.json  the same images as one (N, V, H, W, 3) uint8 array (row i = sample
                               i of samples.parquet) and its header: what training reads

and loads it back as a :class:`RenderSet` that reads an image only when asked for it, so the app
or a notebook can open a large render set instantly, and ``--load-versions`` reproduces any
earlier run. The PNGs are for people; training and evaluation read rows of ``views.npy`` through
:meth:`RenderSet.view_array` (see :mod:`facevlm.scans.view_store`), so their memory does not grow
with the dataset. A render set saved before ``views.npy`` existed gets it on first use. ``preview()`` shows a small grid of renders in Kedro-Viz.
"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd
from kedro.io.core import AbstractVersionedDataset, DatasetError, Version, get_filepath_str
from kedro_datasets._typing import ImagePreview
from PIL import Image

from facevlm.scans.view_store import ViewArray, is_complete_store, write_view_store

#: The render set's views as one array, beside its PNGs (see :mod:`facevlm.scans.view_store`).
VIEWS_FILE = "views.npy"
#: Column of a render set's samples that names each row's render modality, when it has several.
MODALITY = "modality"

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def safe_name(text: str) -> str:
    """A file-system-safe version of a sample id or view name (``/`` and spaces become ``_``)."""
    return _UNSAFE.sub("_", str(text)).strip("_") or "_"


@dataclass
class RenderSet:
    """Multiview renders of N samples with V views each.

    Attributes:
        samples: one row per sample; must hold a unique ``sample_id`` column, plus whatever
            metadata the index carried (subject, expression, intensity, frame, ...). A set
            rendered in several modalities (``modality: texture+shaded``) has a ``modality``
            column and one row per sample and modality: ``(sample_id, modality)`` is unique.
        view_names: the V view names, in the order of the views axis.
        settings: the render settings that produced the images (size, modality, views, frames).
    """

    samples: pd.DataFrame
    view_names: list[str]
    settings: dict[str, Any] = field(default_factory=dict)
    images: np.ndarray | None = None  # (N, V, H, W, 3) uint8, when held in memory
    folder: Path | None = None  # where the PNGs live, when loaded lazily
    store_rows: np.ndarray | None = None  # rows of the folder's views.npy (a subset), None: all

    def __post_init__(self) -> None:
        self.samples = self.samples.reset_index(drop=True)
        if "sample_id" not in self.samples.columns:
            raise ValueError("RenderSet.samples needs a 'sample_id' column")
        key = ["sample_id", *([MODALITY] if MODALITY in self.samples.columns else [])]
        duplicated = self.samples.duplicated(key)
        if duplicated.any():
            dup = self.samples.loc[duplicated, "sample_id"].iloc[0]
            raise ValueError(f"duplicate sample_id {dup!r} in RenderSet")
        if self.images is not None:
            expected = (len(self.samples), len(self.view_names))
            if self.images.ndim != 5 or self.images.shape[:2] != expected:
                raise ValueError(
                    f"images must be (N={expected[0]}, V={expected[1]}, H, W, 3), "
                    f"got {self.images.shape}"
                )
        if self.images is None and self.folder is None:
            raise ValueError("RenderSet needs either images in memory or a folder to load from")

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def n_views(self) -> int:
        return len(self.view_names)

    @property
    def modalities(self) -> list[str]:
        """The render modalities of the rows, in order of appearance (``[]`` for a set of one
        modality, whose rows carry no ``modality`` column)."""
        if MODALITY not in self.samples.columns:
            return []
        return list(dict.fromkeys(self.samples[MODALITY].astype(str)))

    def image_dir(self, i: int) -> PurePosixPath:
        """The folder of sample ``i``'s PNGs, relative to the render set's folder."""
        parts = ["images"]
        if MODALITY in self.samples.columns:
            parts.append(safe_name(self.samples.at[i, MODALITY]))
        parts.append(safe_name(self.samples.at[i, "sample_id"]))
        return PurePosixPath(*parts)

    def image_path(self, i: int, view: int) -> Path:
        """Where image (sample ``i``, view ``view``) lives on disk (lazy render sets only)."""
        if self.folder is None:
            raise ValueError("this RenderSet is held in memory and has no files")
        return self.folder / self.image_dir(i) / f"{safe_name(self.view_names[view])}.png"

    def views(self, i: int) -> np.ndarray:
        """``(V, H, W, 3)`` uint8 views of sample ``i`` (read from disk on demand)."""
        if self.images is not None:
            return self.images[i]
        if "_view_array" in self.__dict__ or is_complete_store(self.folder / VIEWS_FILE):
            return self.view_array()[i]
        return self._png_views(i)  # a set saved before views.npy: a preview writes nothing

    def _png_views(self, i: int) -> np.ndarray:
        return np.stack(
            [
                np.asarray(Image.open(self.image_path(i, v)).convert("RGB"))
                for v in range(self.n_views)
            ]
        )

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self.views(i)

    def to_array(self) -> np.ndarray:
        """All images as one ``(N, V, H, W, 3)`` array in memory (reads every row of a lazy set;
        training uses :meth:`view_array` instead)."""
        if self.images is not None:
            return self.images
        return np.asarray(self.view_array())

    def view_array(self) -> np.ndarray | ViewArray:
        """The ``(N, V, H, W, 3)`` uint8 views without loading them: the in-memory array, or a
        lazy :class:`ViewArray` over the folder's ``views.npy`` (written from the PNGs first if
        this render set was saved without one)."""
        if self.images is not None:
            return self.images
        cached = self.__dict__.get("_view_array")
        if cached is not None:
            return cached
        path = self.folder / VIEWS_FILE
        if not is_complete_store(path):
            full = RenderSet(_all_samples(self.folder), self.view_names, folder=self.folder)
            h, w = full._png_views(0).shape[1:3] if len(full) else (0, 0)
            try:
                write_view_store(
                    path,
                    (full._png_views(i) for i in range(len(full))),
                    len(full),
                    full.n_views,
                    (h, w),
                )
            except OSError as err:
                raise OSError(f"{path}: cannot write the render set's view store ({err})") from err
        self.__dict__["_view_array"] = ViewArray(path, self.store_rows)
        return self.__dict__["_view_array"]

    def subset(self, mask) -> RenderSet:
        """The samples where ``mask`` (boolean array or Series over ``samples``) is true."""
        mask = np.asarray(mask, dtype=bool)
        rows = np.flatnonzero(mask)
        if self.images is not None:
            return RenderSet(
                self.samples.iloc[rows], self.view_names, self.settings, self.images[rows]
            )
        store_rows = rows if self.store_rows is None else self.store_rows[rows]
        return RenderSet(
            self.samples.iloc[rows],
            self.view_names,
            self.settings,
            folder=self.folder,
            store_rows=store_rows,
        )

    def grid(self, max_samples: int = 6) -> Image.Image:
        """A small grid (samples × views) of the first renders, for previews and notebooks."""
        n = min(max_samples, len(self))
        if n == 0:
            return Image.new("RGB", (64, 64))
        tiles = [self.views(i) for i in range(n)]
        h, w = tiles[0].shape[1:3]
        sheet = Image.new("RGB", (w * self.n_views, h * n))
        for row, views in enumerate(tiles):
            for col, image in enumerate(views):
                sheet.paste(Image.fromarray(image), (col * w, row * h))
        return sheet


def _all_samples(folder: Path) -> pd.DataFrame:
    return pd.read_parquet(folder / "samples.parquet")


class RenderSetDataset(AbstractVersionedDataset[RenderSet, RenderSet]):
    """Saves a :class:`RenderSet` as a folder of PNGs + sample table; loads it lazily.

    Example catalog entry::

        renders:
          type: facevlm.datasets.RenderSetDataset
          filepath: data/04_feature/renders
          versioned: true
    """

    def __init__(
        self,
        *,
        filepath: str,
        version: Version | None = None,
        compress_level: int = 1,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        # compress_level 1: PNG stays lossless but saves several times faster than the default 6.
        self._compress_level = compress_level
        self.metadata = metadata
        super().__init__(
            filepath=PurePosixPath(filepath), version=version, exists_function=self._path_exists
        )

    @staticmethod
    def _path_exists(path: str) -> bool:
        return (Path(path) / "samples.parquet").exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version}

    def load(self) -> RenderSet:
        folder = Path(get_filepath_str(self._get_load_path(), ""))
        if not (folder / "samples.parquet").exists():
            raise DatasetError(f"no render set at {folder} (samples.parquet missing)")
        settings = json.loads((folder / "settings.json").read_text())
        samples = pd.read_parquet(folder / "samples.parquet")
        return RenderSet(samples, settings.pop("view_names"), settings, folder=folder)

    def save(self, data: RenderSet) -> None:
        folder = Path(get_filepath_str(self._get_save_path(), ""))
        if folder.exists():
            shutil.rmtree(folder)
        (folder / "images").mkdir(parents=True)
        view_files = [f"{safe_name(v)}.png" for v in data.view_names]
        for i in range(len(data)):
            sample_dir = folder / data.image_dir(i)
            sample_dir.mkdir(parents=True)
            for image, name in zip(data.views(i), view_files, strict=True):
                Image.fromarray(image).save(sample_dir / name, compress_level=self._compress_level)
        n, v = len(data), data.n_views
        h, w = data.views(0).shape[1:3] if n else (0, 0)
        write_view_store(folder / VIEWS_FILE, (data.views(i) for i in range(n)), n, v, (h, w))
        data.samples.to_parquet(folder / "samples.parquet", index=False)
        settings = {**data.settings, "view_names": list(data.view_names)}
        (folder / "settings.json").write_text(json.dumps(settings, indent=2, default=str))

    def _exists(self) -> bool:
        try:
            load_path = get_filepath_str(self._get_load_path(), "")
        except DatasetError:
            return False
        return self._path_exists(load_path)

    def preview(self, max_samples: int = 6) -> ImagePreview:
        """Kedro-Viz preview: a grid of samples (rows) × views (columns), one sample of each
        expression (its last one: the first rows of a set are often one subject's faint,
        near-identical low-intensity scans), else the first samples."""
        renders = self.load()
        if "expression" in renders.samples.columns:
            lasts = ~renders.samples["expression"].astype(str).duplicated(keep="last")
            renders = renders.subset(lasts.to_numpy()) if lasts.sum() > 1 else renders
        buffer = io.BytesIO()
        renders.grid(max_samples).save(buffer, format="PNG")
        return ImagePreview(base64.b64encode(buffer.getvalue()).decode("utf-8"))
