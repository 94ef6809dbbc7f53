"""Deep image check: open every image of a canonical table and parse its header."""

from __future__ import annotations

import logging

import pandas as pd
from PIL import Image

from data.readers.base import (
    MAX_REPORTED_PROBLEMS,
    REASON_UNREADABLE,
    DatasetError,
    OnError,
    check_on_error,
)

logger = logging.getLogger(__name__)


def verify_images(df: pd.DataFrame, on_error: OnError = "fail") -> pd.DataFrame:
    """Check that every image can be opened and its header parsed, without decoding pixels.

    Slower than the existence check the readers do (it reads each file's header), so it is a
    separate step: run it once on a new dataset, or on a sample.

    Args:
        df: A canonical table (needs ``image_id`` and ``image_path``).
        on_error: ``"fail"`` raises on unreadable images; ``"skip"`` drops them (logged).

    Returns:
        ``df`` itself when all images are readable, else (skip mode) a copy without the
        unreadable rows, index reset.

    Raises:
        DatasetError: Listing the first few unreadable images and the total (fail mode).
    """
    check_on_error(on_error)
    bad: list[tuple[int, str]] = []
    pairs = zip(df["image_id"], df["image_path"], strict=True)
    for position, (image_id, image_path) in enumerate(pairs):
        try:
            with Image.open(image_path) as image:
                image.verify()
        except (OSError, SyntaxError, ValueError) as exc:  # PIL reports corrupt data as these
            detail = " ".join(str(exc).split()) or type(exc).__name__
            bad.append((position, f"image {image_id!r} ({image_path}): unreadable: {detail}"))
    if not bad:
        return df
    if on_error == "fail":
        quoted = "; ".join(message for _, message in bad[:MAX_REPORTED_PROBLEMS])
        more = len(bad) - MAX_REPORTED_PROBLEMS
        raise DatasetError(
            f"{len(bad)} of {len(df)} images unreadable: {quoted}"
            + (f"; ... and {more} more" if more > 0 else "")
        )
    logger.warning("skipped %d of %d rows (%s: %d)", len(bad), len(df), REASON_UNREADABLE, len(bad))
    kept = df.drop(index=df.index[[position for position, _ in bad]]).reset_index(drop=True)
    if kept.empty:
        raise DatasetError(f"no rows left: all {len(df)} images are unreadable")
    return kept
