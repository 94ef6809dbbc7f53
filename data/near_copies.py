"""Near-copies: the same lesion photograph under another image id, found by its content.

ISIC collections re-publish images under new ids: ISIC 2019's MSK + archive part holds ISIC 2017
lesions under other ids and with no lesion id, so a held-out set removed by id (``--exclude-data``)
can stay partly in training. Here each image becomes a fingerprint (a grey 32x32 thumbnail,
centred and scaled to unit norm), and two images' similarity is the largest dot product of their
fingerprints over the 8 flips and rotations of one of them (1 = identical up to brightness and
contrast). Measured on the 1,996 images ISIC 2017 (256 px) and ISIC 2019 (84 px, re-encoded)
share, 99 % of the copies score 0.982 or more. The fingerprint is coarse: below ~0.97 it also
matches unrelated lesions (with ISIC 2017 held out of HAM10000 + ISIC 2019, a cut of 0.93 flags
~1,900 HAM10000 and BCN images, sources that hold no ISIC 2017 lesion; 0.98 flags only 12
archive/MSK re-publications; issue 23, sessions 17-18).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from PIL import Image
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from data.images import ImageError, ImageSource, load_image

logger = logging.getLogger(__name__)

FINGERPRINT_SIDE = 32  # the thumbnail's side: keeps the lesion's shape, drops texture and noise
_DRAFT = 4 * FINGERPRINT_SIDE  # large JPEGs are decoded at a reduced scale, still >= this
_ROWS_PER_BLOCK = 4096  # similarity rows computed at once (memory: rows x references x 4 bytes)


def fingerprint(source: ImageSource) -> np.ndarray:
    """One image's fingerprint: FINGERPRINT_SIDE**2 floats, zero mean, unit norm.

    Raises:
        ImageError: the image cannot be used (names the file and why).
    """
    img = load_image(source, draft_size=_DRAFT).convert("L")
    g = np.asarray(img.resize((FINGERPRINT_SIDE, FINGERPRINT_SIDE), Image.Resampling.BOX),
                   np.float32).ravel()
    g = g - g.mean()
    return g / (np.linalg.norm(g) + 1e-6)  # a flat image stays ~0: it matches nothing


def fingerprints(sources: Sequence[ImageSource], *, description: str | None = None) -> np.ndarray:
    """Fingerprints of many images, (n, FINGERPRINT_SIDE**2); a progress bar if described.

    An image that cannot be read gets an all-zero fingerprint (it matches nothing) and one
    warning names how many and the first; whoever reads it next (training) reports it in full.
    """
    out = np.zeros((len(sources), FINGERPRINT_SIDE ** 2), np.float32)
    failed: list[str] = []
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=Console(stderr=True),
                  disable=description is None) as bar:
        for i in bar.track(range(len(sources)), description=description or ""):
            try:
                out[i] = fingerprint(sources[i])
            except ImageError as err:
                failed.append(str(err))
    if failed:
        logger.warning("near-copy check: %d image(s) could not be read and match nothing "
                       "(first: %s)", len(failed), failed[0])
    return out


def dihedral_views(prints: np.ndarray) -> np.ndarray:
    """The 8 flips/rotations of each fingerprint, (n, 8, FINGERPRINT_SIDE**2)."""
    square = prints.reshape(-1, FINGERPRINT_SIDE, FINGERPRINT_SIDE)
    rotations = [np.rot90(square, k, axes=(1, 2)) for k in range(4)]
    views = rotations + [r[:, :, ::-1] for r in rotations]
    return np.stack(views, axis=1).reshape(len(prints), 8, -1)


def nearest(queries: np.ndarray, references: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each query fingerprint, its most similar reference and that similarity.

    Args:
        queries: (n, d) fingerprints.
        references: (m, d) fingerprints, m >= 1.

    Returns:
        (index into references, similarity) arrays of length n.
    """
    if len(references) == 0:
        raise ValueError("no reference fingerprints to compare with")
    views = np.ascontiguousarray(dihedral_views(references).transpose(1, 0, 2))  # (8, m, d)
    index = np.zeros(len(queries), np.int64)
    best = np.zeros(len(queries), np.float32)
    for start in range(0, len(queries), _ROWS_PER_BLOCK):
        block = queries[start:start + _ROWS_PER_BLOCK]
        sim = block @ views[0].T
        for view in views[1:]:
            np.maximum(sim, block @ view.T, out=sim)
        rows = slice(start, start + len(block))
        index[rows] = sim.argmax(axis=1)
        best[rows] = sim[np.arange(len(block)), index[rows]]
    return index, best
