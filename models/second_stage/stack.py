"""The saved second stage (`training.stack`'s folder): load it safely and score feature rows.

`features.json` lists each tree file with its name, library, version, rounds, the PCA of each
member's embedding it uses (plain numbers) and its SHA-256; a tree file whose checksum differs is
refused before any library parses it. Trees are read from the libraries' own text/JSON formats,
never pickles. The score combines the CNN's probability and the trees' scores as a weighted mean
of each one's percentile among its out-of-fold scores (``blend`` in the manifest; schema 1
manifests, without it, average their libraries' percentiles).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.bundle.atomic import atomic_folder
from models.bundle.io import (
    META_FILE,
    SECOND_STAGE_KEY,
    TWO_STAGE_SCHEMA_VERSION,
    WEIGHTS_FILE,
    Bundle,
    load_bundle,
    sha256_file,
)
from models.second_stage.embedding import embed_rows, embed_view
from models.second_stage.features import image_stats, lesion_features, with_patient_context
from models.second_stage.trees import TreeError, TreeModel

FEATURES_FILE = "features.json"
SECOND_STAGE_FOLDER = "second_stage"
STACK_FORMAT = "melanoma-stack"
STACK_SCHEMA = 2
READABLE_SCHEMAS = (1, 2)  # 1: one embedding's PCA, libraries averaged unweighted
CNN = "cnn"  # the blend component that is the CNN's own probability (feature ``cnn_prob``)
REFERENCE_POINTS = 2001
# Patient-context columns a single image cannot have: it is a patient with one lesion.
ALONE = {"patient_n_lesions": 1.0}
PATIENT_SUFFIXES = ("_pz", "_prank", "_pdev", "_pmax", "_pmin")
# Measurements an uploaded image does not come with (ISIC 2024 total-body photography).
NOT_MEASURED_PREFIXES = ("tbp_", "clin_size")


@dataclass
class Projection:
    """The PCA of one member's embedding: columns ``<prefix><i>``."""

    member: int
    prefix: str
    mean: np.ndarray
    axes: np.ndarray


@dataclass
class StackMember:
    """One set of final trees (a library on every feature, or the tabular baseline) and the
    columns they expect."""

    name: str
    model: TreeModel
    columns: list[str]
    projections: list[Projection]
    reference: np.ndarray

    def predict(self, base: pd.DataFrame, embeddings: Sequence[np.ndarray]) -> np.ndarray:
        """P(melanoma) for rows of base features and their members' image embeddings."""
        x = pd.concat([base, *(embedding_components(embeddings[p.member], p.mean, p.axes,
                                                    index=base.index, prefix=p.prefix)
                               for p in self.projections)], axis=1)
        for c in self.columns:  # rows without patient context: a patient with one lesion
            if c not in x.columns and (c in ALONE or c == "emb_patient_dist"
                                       or c.endswith(PATIENT_SUFFIXES)
                                       or c.startswith(NOT_MEASURED_PREFIXES)):
                x[c] = ALONE.get(c, np.nan)
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

    def score_table(self, bundle: Bundle, rows: pd.DataFrame, *, batch_size: int = 32,
                    num_workers: int = 0) -> np.ndarray:
        """The second stage's score of every row of a canonical table (as `training.stack`
        computed its features: raw single view, model-view statistics, patient context when
        the table has patient ids).

        Raises:
            EmbeddingError: an unreadable image.
        """
        probs, emb, stats = embed_rows(bundle, rows, batch_size=batch_size,
                                       num_workers=num_workers,
                                       with_stats=bool(self.spec.get("image_stats")))
        frame = pd.DataFrame({"prob": probs, **{c: rows[c].to_numpy()
                                                for c in ("age", "sex", "site")}})
        if stats is not None:
            frame = pd.concat([frame, stats], axis=1)
        features = with_patient_context(lesion_features(frame), rows.reset_index(drop=True),
                                        emb)
        return self.predict(features, [emb])

    def predict(self, base: pd.DataFrame,
                embeddings: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """The combined score of rows of base features and their embeddings (one (N, D) array,
        or one per member): one library's probability (combiner "single"), or the weighted
        mean of each component's percentile among its out-of-fold scores."""
        if isinstance(embeddings, np.ndarray):
            embeddings = [embeddings]
        preds = {m.name: m.predict(base, embeddings) for m in self.members}
        if self.spec.get("combiner") == "single":
            return next(iter(preds.values()))
        blend = self.spec.get("blend")
        if blend is None:  # schema 1: every library's percentile, unweighted
            return percentile_mean(list(preds.values()), [m.reference for m in self.members])
        references = {m.name: m.reference for m in self.members}
        references[CNN] = np.asarray(blend.get("cnn_reference", []), dtype=np.float64)
        parts = [c for c in blend["components"] if c["weight"] > 0]
        columns = [base["cnn_prob"].to_numpy() if c["name"] == CNN else preds[c["name"]]
                   for c in parts]
        return weighted_percentile(columns, [references[c["name"]] for c in parts],
                                   [float(c["weight"]) for c in parts])


def component_prefix(member: int, n_members: int) -> str:
    """Column prefix of a member's principal components: ``emb_pc`` for a single member's
    embedding, ``m<k>_pc`` when several members' embeddings are stacked."""
    return "emb_pc" if n_members == 1 else f"m{member}_pc"


def embedding_components(embedding: np.ndarray, mean: np.ndarray, axes: np.ndarray,
                         index: Any = None, prefix: str = "emb_pc") -> pd.DataFrame:
    """The embedding's principal components as the feature columns ``<prefix><i>``."""
    comps = (np.asarray(embedding, dtype=np.float64) - mean) @ np.asarray(axes).T
    return pd.DataFrame(comps, columns=[f"{prefix}{i}" for i in range(comps.shape[1])],
                        index=index)


def reference_quantiles(scores: np.ndarray) -> np.ndarray:
    """The stored reference of one library's out-of-fold scores (REFERENCE_POINTS quantiles)."""
    return np.quantile(np.asarray(scores, dtype=np.float64), np.linspace(0, 1, REFERENCE_POINTS))


def percentile(scores: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Each score's percentile in a stored reference (`reference_quantiles`): the share of the
    reference at or below it, interpolated linearly between reference values, so that a score
    that moves by 1e-7 (another batch size, another runtime) moves its percentile by as little
    instead of jumping a whole step."""
    ref = np.asarray(reference, dtype=np.float64)
    values = np.unique(ref)
    at_or_below = np.searchsorted(ref, values, side="right") / len(ref)
    return np.interp(np.asarray(scores, dtype=np.float64), values, at_or_below)


def weighted_percentile(columns: Sequence[np.ndarray], references: Sequence[np.ndarray],
                        weights: Sequence[float]) -> np.ndarray:
    """How the components combine: the weighted mean of each score's percentile among that
    component's out-of-fold scores (a rank average that also works for one image)."""
    w = np.asarray(weights, dtype=np.float64)
    ranks = np.stack([percentile(c, ref) for c, ref in zip(columns, references, strict=True)])
    return np.clip((w / w.sum()) @ ranks, 0.0, 1.0)  # rounding can pass 1 by 1e-16


def percentile_mean(columns: Sequence[np.ndarray], references: Sequence[np.ndarray]
                    ) -> np.ndarray:
    """`weighted_percentile` with equal weights."""
    return weighted_percentile(columns, references, [1.0] * len(columns))


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
        if spec.get("format") != STACK_FORMAT or spec.get("schema_version") not in \
                READABLE_SCHEMAS:
            raise TreeError(f"{spec_path}: not a {STACK_FORMAT} manifest of schema "
                            f"{' or '.join(map(str, READABLE_SCHEMAS))} (format "
                            f"{spec.get('format')!r}, schema {spec.get('schema_version')!r})")
        members = [_member(folder, entry) for entry in spec["trees"]]
        names = [m.name for m in members]
        wanted = [c["name"] for c in (spec.get("blend") or {}).get("components", [])]
        if len(set(names)) != len(names) or not set(wanted) <= {*names, CNN}:
            raise TreeError(f"{spec_path}: blend components {wanted} do not match the trees "
                            f"{names}")
    except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as err:
        raise TreeError(f"{spec_path}: invalid content ({err})") from None
    return Stack(folder, members, spec)


def _member(folder: Path, entry: dict[str, Any]) -> StackMember:
    """One manifest entry's trees, checked against their SHA-256 before they are parsed."""
    path = folder / Path(entry["file"]).name
    if not path.is_file():
        raise TreeError(f"{path}: tree file missing")
    if sha256_file(path) != entry["sha256"]:
        raise TreeError(f"{path}: SHA-256 does not match {FEATURES_FILE} (corrupt or "
                        "replaced); refusing to load it")
    if "pca" in entry:
        projections = [Projection(int(p["member"]), str(p["prefix"]),
                                  np.asarray(p["mean"], dtype=np.float64),
                                  np.asarray(p["axes"], dtype=np.float64)) for p in entry["pca"]]
    elif entry.get("pca_axes") is not None:  # schema 1: member 0's embedding only
        projections = [Projection(0, "emb_pc", np.asarray(entry["pca_mean"], dtype=np.float64),
                                  np.asarray(entry["pca_axes"], dtype=np.float64))]
    else:
        projections = []
    return StackMember(str(entry.get("name", entry["library"])),
                       TreeModel.load(entry["library"], path, int(entry["n_iter"])),
                       list(entry["columns"]), projections,
                       np.asarray(entry["reference"], dtype=np.float64))


def bundle_stack(bundle: Bundle) -> Stack | None:
    """The trees inside a two-stage bundle (None for a one-stage bundle).

    Raises:
        TreeError: a manifest whose SHA-256 differs from bundle.json's record, or a stack that
            does not fit the bundle.
    """
    entry = bundle.info.get(SECOND_STAGE_KEY)
    if not entry:
        return None
    folder = bundle.path / Path(str(entry.get("folder", ""))).name
    manifest = folder / FEATURES_FILE
    if not manifest.is_file() or sha256_file(manifest) != entry.get("manifest_sha256"):
        raise TreeError(f"{manifest}: missing, or its SHA-256 does not match bundle.json "
                        "(corrupt or replaced); refusing to load the second stage")
    stack = load_stack(folder)
    check_stack_for(stack, bundle)
    return stack


def write_two_stage(bundle_dir: Path, stack_dir: Path, out: Path) -> Path:
    """A two-stage bundle: the CNN bundle's files plus the stack in `second_stage/`, recorded
    (with the manifest's SHA-256) in bundle.json, schema `TWO_STAGE_SCHEMA_VERSION`.

    Raises:
        BundleError, TreeError: an unusable bundle or stack, or a stack of another bundle.
    """
    bundle, stack = load_bundle(bundle_dir), load_stack(stack_dir)
    check_stack_for(stack, bundle)
    info = json.loads((bundle.path / META_FILE).read_text())
    with atomic_folder(out) as tmp:  # swapped in whole, once it loads (models/bundle/atomic.py)
        shutil.copyfile(bundle.path / WEIGHTS_FILE, tmp / WEIGHTS_FILE)
        target = tmp / SECOND_STAGE_FOLDER
        target.mkdir()
        for name in [FEATURES_FILE, *(Path(e["file"]).name for e in stack.spec["trees"])]:
            shutil.copyfile(stack.folder / name, target / name)
        info["schema_version"] = TWO_STAGE_SCHEMA_VERSION
        info[SECOND_STAGE_KEY] = {"folder": SECOND_STAGE_FOLDER,
                                  "manifest_sha256": sha256_file(target / FEATURES_FILE),
                                  "libraries": [m.name for m in stack.members]}
        (tmp / META_FILE).write_text(json.dumps(info, indent=2) + "\n")
        bundle_stack(load_bundle(tmp))  # what was written must load
    return out


def check_stack_for(stack: Stack, bundle: Bundle) -> None:
    """Refuse a stack trained on another bundle's embeddings or embedding size.

    Raises:
        TreeError: naming both.
    """
    trained_on = stack.spec.get("bundles") or []
    if len(trained_on) > 1:
        raise TreeError(f"{stack.folder}: stacked on the embeddings of {len(trained_on)} "
                        f"bundles ({', '.join(trained_on)}); the app, eval and predict score a "
                        "second stage with one bundle: its out-of-fold predictions are in "
                        "oof_predictions.csv")
    if trained_on and trained_on != [bundle.bundle_id]:
        raise TreeError(f"{stack.folder}: trained on embeddings of {trained_on}, not of "
                        f"{bundle.bundle_id}")
    dims = int(bundle.model.backbone.num_features)
    for m in stack.members:
        for p in m.projections:
            if len(p.mean) != dims:
                raise TreeError(f"{stack.folder}: expects {len(p.mean)}-d embeddings, "
                                f"{bundle.bundle_id} gives {dims}")


def view_row(stack: Stack | None, prob: float, model_view: np.ndarray,
             metadata: dict[str, Any]) -> dict[str, Any]:
    """One image's feature row for the trees: raw CNN score, metadata and, when the trees use
    them, the model view's image statistics (not computed for no trees)."""
    age = metadata.get("age")
    row = {"prob": prob, "age": np.nan if age is None else age, "sex": metadata.get("sex"),
           "site": metadata.get("site")}
    if stack is not None and stack.spec.get("image_stats"):
        row.update(image_stats(model_view))
    return row


def score_view(stack: Stack, bundle: Bundle, model_view: np.ndarray,
               metadata: dict[str, Any]) -> dict[str, Any]:
    """The second stage's score of one image, from exactly what the CNN saw.

    ``model_view`` is the engine's (S, S, 3) uint8 view and ``metadata`` its validated age, sex and
    site. Returns ``score``, ``cnn_probability`` (the raw single view the trees were trained on),
    ``combiner``, ``libraries`` (the names of its trees), ``weights`` (each component's share
    of the blend, None without one) and ``patient_context`` (False: one image has none).
    """
    prob, embedding = embed_view(bundle, model_view, metadata)
    row = view_row(stack, prob, model_view, metadata)
    score = float(stack.predict(lesion_features(pd.DataFrame([row])), [embedding[None]])[0])
    blend = stack.spec.get("blend")
    return {"score": score, "cnn_probability": prob, "combiner": stack.spec.get("combiner"),
            "libraries": [m.name for m in stack.members], "patient_context": False,
            "weights": None if blend is None else {c["name"]: c["weight"]
                                                   for c in blend["components"]}}
