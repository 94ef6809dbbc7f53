"""Self-describing model bundles: `model.safetensors` + `bundle.json`, saved and loaded safely.

The JSON holds everything needed to reproduce preprocessing and decisions (architecture,
preprocessing, metadata encoder state with the site vocabulary, thresholds, validation metrics,
training-data summary, library versions). Training writes bundles; evaluation and the app read
only bundles. Loading never unpickles anything.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import platform
import time
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from data.diagnoses import diagnosis_name
from data.encoding import MetadataEncoder
from data.images import Preprocessing
from models.bundle.atomic import atomic_folder
from models.bundle.decision import DECISION_KEY, DecisionRule
from models.bundle.operating import OperatingCurve
from models.nn.fusion import FusionConfig, FusionNet
from models.nn.probabilities import logits_to_probability

log = logging.getLogger(__name__)

BUNDLE_FORMAT = "melanoma-bundle"
BUNDLE_SCHEMA_VERSION = 2  # 2 added the optional "decision" rule (score + calibration)
# 3: a two-stage bundle, with gradient-boosted trees inside (`models.second_stage.stack`); older
# readers refuse it rather than serve the CNN alone without saying so.
TWO_STAGE_SCHEMA_VERSION = 3
READABLE_SCHEMA_VERSIONS = (1, 2, 3)
SECOND_STAGE_KEY = "second_stage"
WEIGHTS_FILE = "model.safetensors"
META_FILE = "bundle.json"
REQUIRED_KEYS = ("format", "schema_version", "bundle_id", "model", "preprocessing",
                 "metadata_encoder", "thresholds", "weights_sha256")
THRESHOLD_NAMES = ("sensitivity_target", "closest_to_corner")
OPERATING_CURVE_KEY = "operating_curve"
# The reduced-precision accuracy gate's result for this bundle ({"bf16": {"passed": bool, ...}},
# docs/experiments/issue24/precision_gate.sh): a failed gate keeps `--precision auto` at fp32.
PRECISION_GATE_KEY = "precision_gate"
_VERSIONED_PACKAGES = ("torch", "timm", "numpy", "pillow", "safetensors", "lightning")


class BundleError(ValueError):
    """A path is not a usable model bundle; the message says why."""


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape a bundle's numbers."""
    out = {"python": platform.python_version()}
    for pkg in _VERSIONED_PACKAGES:
        try:
            out[pkg] = importlib_metadata.version(pkg)
        except importlib_metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


@dataclass
class Bundle:
    """A loaded bundle: the model in eval mode and everything needed to feed and read it."""

    path: Path
    model: FusionNet
    config: FusionConfig
    preprocessing: Preprocessing
    encoder: MetadataEncoder
    thresholds: dict[str, float]
    info: dict[str, Any] = field(repr=False)

    @property
    def bundle_id(self) -> str:
        """Stable id: name plus a prefix of the weights' SHA-256."""
        return self.info["bundle_id"]

    @property
    def task(self) -> str:
        """"melanoma" (one logit) or "diagnosis" (softmax over `classes`)."""
        return self.config.task

    @property
    def classes(self) -> tuple[str, ...]:
        """A diagnosis model's classes, in output order (melanoma first); () otherwise."""
        return self.config.classes

    @property
    def class_names(self) -> dict[str, str]:
        """Readable name of each class (e.g. "MEL": "melanoma"); {} for a melanoma model."""
        return {c: (self.info.get("class_names") or {}).get(c, c) for c in self.classes}

    @property
    def default_threshold_name(self) -> str:
        """Name of the threshold used for the app's decision."""
        return self.info.get("default_threshold", THRESHOLD_NAMES[0])

    @property
    def threshold(self) -> float:
        """The default decision threshold."""
        return self.thresholds[self.default_threshold_name]

    @functools.cached_property
    def decision(self) -> DecisionRule:
        """The score decided on and its calibration (single view, uncalibrated if absent);
        parsed once per loaded bundle (the engine reads it on every analysis)."""
        return DecisionRule.from_dict(self.info.get(DECISION_KEY))

    @property
    def has_second_stage(self) -> bool:
        """Whether the bundle carries gradient-boosted trees (a two-stage bundle)."""
        return bool(self.info.get(SECOND_STAGE_KEY))

    @property
    def operating_curve(self) -> OperatingCurve | None:
        """The stored validation curve of the decision score (None in older bundles)."""
        stored = self.info.get(OPERATING_CURVE_KEY)
        return OperatingCurve.from_dict(stored) if stored else None

    def encode_metadata(self, age: Any, sex: Any, site: Any) -> np.ndarray:
        """Validate and encode one record with the bundle's encoder (raises MetadataError)."""
        return self.encoder.encode(age, sex, site)


def save_bundle(out_dir: str | Path, model: FusionNet, *, preprocessing: Preprocessing,
                encoder: MetadataEncoder, thresholds: dict[str, float], name: str,
                metrics: dict[str, Any] | None = None, data_summary: dict[str, Any] | None = None,
                training: dict[str, Any] | None = None, extra: dict[str, Any] | None = None,
                default_threshold: str = THRESHOLD_NAMES[0],
                operating_curve: OperatingCurve | None = None,
                decision: DecisionRule | None = None) -> Path:
    """Write a bundle folder.

    Args:
        out_dir: folder to create or replace (atomically; other files in it are kept).
        model: the trained network (any device/memory format; saved as contiguous CPU fp32).
        preprocessing: the exact image preprocessing used in validation.
        encoder: the metadata encoder fitted on the training split.
        thresholds: decision thresholds by name; must include `default_threshold`.
        name: human-readable bundle name (part of the id).
        metrics: validation metrics.
        data_summary: training-data summary (source, counts, folds, licence).
        training: the training configuration used.
        extra: anything else to record (e.g. licence, attribution).
        default_threshold: the threshold name used for the app's decision.
        operating_curve: the validation curve of the decision score (lets the app and API
            move the threshold and report what it does).
        decision: the decision rule (score and calibration); thresholds and the operating
            curve must be on its calibrated scale. None: single view, uncalibrated.

    Returns:
        The bundle folder.
    """
    if default_threshold not in thresholds:
        raise BundleError(f"default threshold {default_threshold!r} is not among "
                          f"{sorted(thresholds)}")
    out = Path(out_dir)
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    # Built beside `out` and swapped in whole: a killed export never leaves new weights next to
    # old JSON, and the previous bundle stays loadable until the swap (models/bundle/atomic.py).
    with atomic_folder(out) as tmp:
        digest = write_weights(tmp, state)
        info = {
            "format": BUNDLE_FORMAT,
            "schema_version": BUNDLE_SCHEMA_VERSION,
            "bundle_id": f"{name}-{digest[:12]}",
            "name": name,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "weights_file": WEIGHTS_FILE,
            "weights_sha256": digest,
            "model": model.config.to_dict(),
            # Also in "model": stated at the top level for readers of the JSON. The melanoma
            # probability of a diagnosis model is P(melanoma_class), its output column 0.
            "task": model.config.task,
            **({"classes": list(model.config.classes),
                "melanoma_class": model.config.classes[0],
                "class_names": {c: diagnosis_name(c) for c in model.config.classes}}
               if model.config.classes else {}),
            "cam_layers": model.cam_layer_names(),
            "preprocessing": preprocessing.to_dict(),
            "metadata_encoder": encoder.to_dict(),
            "thresholds": {k: float(v) for k, v in thresholds.items()},
            "default_threshold": default_threshold,
            DECISION_KEY: (decision or DecisionRule()).to_dict(),
            **({OPERATING_CURVE_KEY: operating_curve.to_dict()} if operating_curve else {}),
            "metrics": metrics or {},
            "training_data": data_summary or {},
            "training": training or {},
            "versions": library_versions(),
            **(extra or {}),
        }
        (tmp / META_FILE).write_text(json.dumps(info, indent=2, default=str) + "\n")
    log.info("Wrote bundle %s to %s", info["bundle_id"], out)
    return out


def write_weights(folder: Path, state: dict[str, torch.Tensor]) -> str:
    """Write a bundle's `model.safetensors` into `folder`; returns its SHA-256."""
    weights = folder / WEIGHTS_FILE
    save_file(state, str(weights), metadata={"format": BUNDLE_FORMAT})
    weights.chmod(0o644)  # safetensors writes 0600; containers run as another uid
    return sha256_file(weights)


def read_bundle_info(path: str | Path) -> dict[str, Any]:
    """Read and validate `bundle.json` without loading weights.

    Raises:
        BundleError: missing files, invalid JSON, wrong format or schema version, missing keys.
    """
    folder = Path(path)
    if folder.is_file() and folder.name in (META_FILE, WEIGHTS_FILE):
        folder = folder.parent
    meta = folder / META_FILE
    if not folder.exists():
        raise BundleError(f"{folder}: no such bundle folder")
    if not meta.is_file():
        raise BundleError(f"{folder}: not a model bundle (no {META_FILE})")
    try:
        info = json.loads(meta.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BundleError(f"{meta}: not valid JSON ({err})") from None
    if not isinstance(info, dict) or info.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{meta}: not a {BUNDLE_FORMAT} file")
    version = info.get("schema_version")
    if type(version) is not int or version not in READABLE_SCHEMA_VERSIONS:
        raise BundleError(f"{meta}: schema version {version!r} is not supported (this code "
                          f"reads {', '.join(map(str, READABLE_SCHEMA_VERSIONS))})")
    missing = [k for k in REQUIRED_KEYS if k not in info]
    if missing:
        raise BundleError(f"{meta}: missing keys {missing}")
    info["_folder"] = str(folder)
    return info


def load_bundle(path: str | Path, *, verify_hash: bool = True) -> Bundle:
    """Load a bundle for inference (CPU, eval mode).

    Args:
        path: bundle folder (or its bundle.json).
        verify_hash: check the weights' SHA-256 against the JSON.

    Returns:
        The loaded Bundle.

    Raises:
        BundleError: for anything that makes the folder unusable, with the reason.
    """
    info = read_bundle_info(path)
    folder = Path(info.pop("_folder"))
    weights = folder / info.get("weights_file", WEIGHTS_FILE)
    if not weights.is_file():
        raise BundleError(f"{folder}: weights file {weights.name} is missing")
    if verify_hash and sha256_file(weights) != info["weights_sha256"]:
        raise BundleError(f"{weights}: SHA-256 does not match bundle.json (corrupt or replaced)")
    try:
        config = FusionConfig.from_dict(info["model"])
        preprocessing = Preprocessing.from_dict(info["preprocessing"])
        encoder = MetadataEncoder.from_dict(info["metadata_encoder"])
        if info.get(OPERATING_CURVE_KEY):
            OperatingCurve.from_dict(info[OPERATING_CURVE_KEY])  # validated here, read lazily
        DecisionRule.from_dict(info.get(DECISION_KEY))  # DecisionRuleError is a ValueError
    except (TypeError, ValueError, KeyError) as err:  # OperatingPointError is a ValueError
        raise BundleError(f"{folder / META_FILE}: invalid content ({err})") from None
    if config.meta_dim not in (0, encoder.dim):
        raise BundleError(f"{folder}: model expects {config.meta_dim} metadata features but the "
                          f"encoder produces {encoder.dim}")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError) as err:
        raise BundleError(f"{weights}: not a readable safetensors file ({err})") from None
    try:
        model = FusionNet(config)
    except Exception as err:  # timm raises several types for unknown names
        raise BundleError(f"{folder}: cannot build backbone {config.backbone!r} ({err})") from None
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shape mismatches raise even with strict=False
        raise BundleError(f"{weights}: weights do not fit {config.backbone} ({err})") from None
    if result.missing_keys or result.unexpected_keys:
        raise BundleError(f"{weights}: weights do not fit {config.backbone} (missing "
                          f"{result.missing_keys[:3]}, unexpected {result.unexpected_keys[:3]})")
    model.eval()
    thresholds = {k: float(v) for k, v in info["thresholds"].items()}
    if info.get("default_threshold", THRESHOLD_NAMES[0]) not in thresholds:
        raise BundleError(f"{folder}: default threshold is not among {sorted(thresholds)}")
    return Bundle(path=folder, model=model, config=config, preprocessing=preprocessing,
                  encoder=encoder, thresholds=thresholds, info=info)


def predict_arrays(bundle: Bundle, images: np.ndarray, meta: np.ndarray) -> np.ndarray:
    """float64 (N,) melanoma probabilities of preprocessed inputs, by the reference eager path.

    ``images`` are float32 (N, 3, S, S) from ``bundle.preprocessing``, ``meta`` float32
    (N, encoder.dim) from ``bundle.encoder``.
    """
    with torch.inference_mode():
        x = torch.from_numpy(np.ascontiguousarray(images))
        m = torch.from_numpy(np.ascontiguousarray(meta)) if bundle.model.uses_metadata else None
        return logits_to_probability(bundle.model(x, m)).numpy()
