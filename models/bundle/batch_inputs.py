"""What a batch of model inputs is built from: images decoded by a bundle's preprocessing and
metadata encoded by its encoder, row by row exactly as the app encodes one request.

Shared by evaluation, prediction and the second stage's embedding step.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from data.encoding import MetadataEncoder
from data.images import ImageError, Preprocessing


def metadata_matrix(encoder: MetadataEncoder, df: pd.DataFrame, mode: str = "auto") -> np.ndarray:
    """float32 (N, encoder.dim): every row's metadata encoded as the app encodes one request.

    ``mode="ignore"`` gives every row the all-unknown encoding (what the app feeds when nothing
    is entered). MetadataError for a value outside the encoder's vocabulary.
    """
    if mode == "ignore":
        return np.tile(encoder.encode(None, None, None), (len(df), 1))
    if mode != "auto":
        raise ValueError(f"metadata mode must be 'auto' or 'ignore', got {mode!r}")
    rows = [encoder.encode(age, sex, site)
            for age, sex, site in zip(df["age"], df["sex"], df["site"], strict=True)]
    return np.stack(rows).astype(np.float32) if rows else np.zeros((0, encoder.dim), np.float32)


class ImageTable(Dataset):
    """Image paths -> preprocessed float32 CHW tensors; a bad image yields its error message.

    Errors travel as data (not exceptions) so that a worker process does not turn one bad file
    into a multi-line traceback, and skip mode can drop exactly the bad rows.
    """

    def __init__(self, paths: Sequence[str], preprocessing: Preprocessing) -> None:
        self.paths = list(paths)
        self.pre = preprocessing

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, str]:
        try:
            x = self.pre.normalize(self.pre.model_view(self.pre.load(self.paths[i])))
            return torch.from_numpy(x), i, ""
        except ImageError as err:
            size = self.pre.size
            return torch.zeros(3, size, size), i, str(err)
