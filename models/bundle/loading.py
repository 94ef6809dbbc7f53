"""Finding and loading models from `--bundle` arguments: bundle folders, folders of training
runs (one bundle per run: an ensemble), or an ensemble folder (`ensemble.json`).

Shared by evaluation, prediction and the second stage's embedding step.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from models.bundle.ensemble import Ensemble, is_ensemble, load_ensemble
from models.bundle.io import META_FILE, Bundle, load_bundle

log = logging.getLogger(__name__)


def resolve_bundle_paths(paths: Sequence[Path]) -> list[Path]:
    """Expand the `--bundle` arguments into bundle folders.

    A path holding `bundle.json` is one bundle. A folder without one is searched for bundle
    folders one level down (`DIR/*/bundle.json`), else two (`DIR/*/*/bundle.json`, the layout
    of training runs: `RUN/bundle/`), so a folder of fold runs is an ensemble. Anything else is
    returned unchanged, and loading it reports why it is not a bundle.

    Args:
        paths: the `--bundle` values, in order.

    Returns:
        Bundle folders, in order, without duplicates.
    """
    out: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_file() and path.name == META_FILE:
            path = path.parent
        found = [path]
        if path.is_dir() and not (path / META_FILE).is_file():
            nested = sorted(p.parent for p in path.glob(f"*/{META_FILE}"))
            nested = nested or sorted(p.parent for p in path.glob(f"*/*/{META_FILE}"))
            if nested:
                log.info("%s holds %d bundles: %s", path, len(nested),
                         ", ".join(str(p.relative_to(path)) for p in nested))
                found = nested
        for folder in found:
            if folder.resolve() not in {p.resolve() for p in out}:
                out.append(folder)
    return out


def load_bundles(paths: Sequence[Path]) -> list[Bundle]:
    """Load every bundle (BundleError names the first unusable one)."""
    bundles = [load_bundle(path) for path in resolve_bundle_paths(paths)]
    for b in bundles:
        log.info("bundle %s: %s, %d px, metadata %s", b.bundle_id, b.config.backbone,
                 b.preprocessing.size, "on" if b.model.uses_metadata else "off")
    return bundles


def load_models(paths: Sequence[Path]) -> tuple[list[Bundle], Ensemble | None]:
    """Load the `--bundle` arguments: bundles, bundle folders, or one ensemble folder.

    One ensemble folder (holding `ensemble.json`) is used as the model it describes: its
    members, combiner and its own thresholds. Given beside other paths, an ensemble
    contributes its members only.

    Returns:
        (the member bundles, the ensemble when exactly one was given, else None).

    Raises:
        BundleError / EnsembleError: naming the first unusable bundle or member.
    """
    expanded = [Path(p).expanduser() for p in paths]
    ensembles = [load_ensemble(p) for p in expanded if is_ensemble(p)]
    plain = [p for p in expanded if not is_ensemble(p)]
    bundles = [m for e in ensembles for m in e.members] + load_bundles(plain)
    if ensembles:
        log.info("ensemble %s: %d members, %s", ", ".join(e.ensemble_id for e in ensembles),
                 sum(len(e.members) for e in ensembles), ensembles[0].combiner)
    return bundles, (ensembles[0] if len(ensembles) == 1 and not plain else None)
