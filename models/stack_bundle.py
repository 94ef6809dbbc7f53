"""The saved second stage (`training.stack`'s folder): load it safely and score feature rows.

`features.json` lists each tree file with its library, version, rounds, the embedding's PCA
(plain numbers) and its SHA-256; a tree file whose checksum differs is refused before any
library parses it. Trees are read from the libraries' own text/JSON formats, never pickles.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.bundle import sha256_file
from models.trees import TreeError, TreeModel

FEATURES_FILE = "features.json"


@dataclass
class StackMember:
    """One library's final trees and the columns they expect."""

    model: TreeModel
    columns: list[str]
    pca_mean: np.ndarray | None
    pca_axes: np.ndarray | None

    def predict(self, base: pd.DataFrame, embedding: np.ndarray) -> np.ndarray:
        """P(melanoma) for rows of base features and their image embeddings."""
        x = base.copy()
        if self.pca_axes is not None:
            comps = (np.asarray(embedding, dtype=np.float64) - self.pca_mean) @ self.pca_axes.T
            for i in range(comps.shape[1]):
                x[f"emb_pc{i}"] = comps[:, i]
        missing = [c for c in self.columns if c not in x.columns]
        if missing:
            raise TreeError(f"feature rows lack columns {missing[:5]}")
        return self.model.predict(x[self.columns].to_numpy(np.float32))


@dataclass
class Stack:
    """The loaded second stage."""

    folder: Path
    members: list[StackMember]
    spec: dict[str, Any]

    @property
    def base_features(self) -> list[str]:
        """The base feature columns (before the embedding's components)."""
        return list(self.spec["base_features"])

    def predict(self, base: pd.DataFrame, embedding: np.ndarray) -> np.ndarray:
        """The combined score (one library's probability, or the mean of normalised ranks)."""
        preds = [m.predict(base, embedding) for m in self.members]
        return preds[0] if len(preds) == 1 else rank_mean(preds)


def rank_mean(columns: list[np.ndarray]) -> np.ndarray:
    """Mean of normalised ranks in (0, 1] (how several tree libraries are combined)."""
    ranks = [pd.Series(c).rank(method="average").to_numpy() / len(c) for c in columns]
    return np.mean(ranks, axis=0)


def load_stack(folder: str | Path) -> Stack:
    """Load a `training.stack` output folder.

    Raises:
        TreeError: no features.json, a missing or tampered tree file (checksum), or a file the
            library cannot read.
    """
    folder = Path(folder)
    spec_path = folder / FEATURES_FILE
    if not spec_path.is_file():
        raise TreeError(f"{folder}: no {FEATURES_FILE} (not a training.stack output)")
    try:
        spec = json.loads(spec_path.read_text())
        members = []
        for entry in spec["trees"]:
            path = folder / Path(entry["file"]).name
            if not path.is_file():
                raise TreeError(f"{path}: tree file missing")
            if sha256_file(path) != entry["sha256"]:
                raise TreeError(f"{path}: SHA-256 does not match {FEATURES_FILE} (corrupt or "
                                "replaced); refusing to load it")
            pca = entry.get("pca_axes")
            members.append(StackMember(
                TreeModel.load(entry["library"], path, int(entry["n_iter"])),
                list(entry["columns"]),
                None if pca is None else np.asarray(entry["pca_mean"], dtype=np.float64),
                None if pca is None else np.asarray(pca, dtype=np.float64)))
    except (KeyError, TypeError, json.JSONDecodeError) as err:
        raise TreeError(f"{spec_path}: invalid content ({err})") from None
    return Stack(folder, members, spec)
