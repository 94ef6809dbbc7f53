"""One bundle's probability, pooled image embedding and image statistics for a table of images.

The second stage's inputs, computed the same way for training (`training.embed`) and for
evaluation (`eval.evaluate --second-stage`): the bundle's preprocessing and metadata encoding, the raw
single-view probability (no TTA, no calibration map: what the trees were trained on), the
backbone's pooled features, and `models.second_stage.features.image_stats` of exactly the model
view.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from models.bundle.batch_inputs import ImageTable, metadata_matrix
from models.bundle.io import Bundle
from models.nn.probabilities import logits_to_probability
from models.second_stage.features import IMAGE_STAT_COLUMNS, image_stats, model_views


class EmbeddingError(ValueError):
    """An image that cannot be embedded; the message names the file and why."""


def embed_view(bundle: Bundle, model_view: np.ndarray,
               metadata: dict[str, Any]) -> tuple[float, np.ndarray]:
    """The raw single-view probability and the embedding of one model view.

    Args:
        bundle: the loaded bundle.
        model_view: (S, S, 3) uint8, the engine's model view of the image.
        metadata: the validated age, sex and site (the engine's `Analysis.metadata`).

    Returns:
        (probability, float32 (D,) embedding).
    """
    x = torch.from_numpy(bundle.preprocessing.normalize(model_view)[None])
    meta = (torch.from_numpy(bundle.encode_metadata(
        metadata.get("age"), metadata.get("sex"), metadata.get("site"))[None])
        if bundle.model.uses_metadata else None)
    with torch.inference_mode():
        logits, emb = bundle.model.forward_with_embedding(x, meta)
    return float(logits_to_probability(logits)[0]), emb.float().numpy()[0]


def embed_rows(bundle: Bundle, rows: pd.DataFrame, *, batch_size: int = 32,
               num_workers: int = 0, with_stats: bool = True, device: str = "cpu"
               ) -> tuple[np.ndarray, np.ndarray, pd.DataFrame | None]:
    """Probabilities, embeddings and (optionally) image statistics of every row.

    Args:
        bundle: the loaded bundle (its eager model is used).
        rows: canonical table rows (image_path, age, sex, site).
        batch_size: images per forward pass.
        num_workers: DataLoader worker processes decoding images.
        with_stats: also measure `IMAGE_STAT_COLUMNS` on each model view.
        device: where the bundle's model is ("cpu" or "cuda"); results come back to the CPU.

    Returns:
        (float64 (N,) probabilities, float32 (N, D) embeddings, the statistics or None).

    Raises:
        EmbeddingError: an unreadable image (the first one, named).
    """
    meta = (torch.from_numpy(metadata_matrix(bundle.encoder, rows))
            if bundle.model.uses_metadata else None)
    loader = DataLoader(ImageTable(rows["image_path"].tolist(), bundle.preprocessing),
                        batch_size=batch_size, shuffle=False, num_workers=num_workers,
                        pin_memory=device == "cuda")
    bundle.model.eval()
    probs, embs, stats = [], [], []
    with torch.inference_mode():
        for x, idx, errors in loader:
            bad = [e for e in errors if e]
            if bad:
                raise EmbeddingError(bad[0])
            logits, emb = bundle.model.forward_with_embedding(
                x.to(device), None if meta is None else meta[idx].to(device))
            probs.append(logits_to_probability(logits).numpy().astype(np.float64))
            embs.append(emb.float().cpu().numpy())
            if with_stats:
                stats += [image_stats(v) for v in model_views(bundle.preprocessing, x)]
    if not probs:
        return np.zeros(0), np.zeros((0, int(bundle.model.backbone.num_features)), np.float32), \
            (pd.DataFrame(columns=list(IMAGE_STAT_COLUMNS)) if with_stats else None)
    table = pd.DataFrame(stats, columns=list(IMAGE_STAT_COLUMNS)) if with_stats else None
    return np.concatenate(probs), np.concatenate(embs), table
