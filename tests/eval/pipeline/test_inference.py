"""Tests for eval.pipeline.inference: the eval path computes exactly what the bundle computes."""

from __future__ import annotations

import importlib.util
import itertools
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from data.readers import read_dataset
from eval.pipeline.errors import EvalError
from eval.pipeline.inference import ImageTable, fixed_shapes, metadata_matrix, predict
from models.bundle.io import load_bundle, predict_arrays
from models.inference.tta import VIEW_NAMES, dihedral_views, view_probabilities

# The 8 elements of the dihedral group of the square, written independently with numpy on an
# (H, W) array: identity, flips, rotations (counter-clockwise, as np.rot90), transposes.
NUMPY_VIEWS = {
    "identity": lambda a: a,
    "hflip": lambda a: a[:, ::-1],
    "vflip": lambda a: a[::-1, :],
    "rot90": lambda a: np.rot90(a, 1),
    "rot180": lambda a: np.rot90(a, 2),
    "rot270": lambda a: np.rot90(a, 3),
    "transpose": lambda a: a.T,
    "antitranspose": lambda a: a[::-1, ::-1].T,  # reflection about the anti-diagonal
}


def _numpy_view(x: np.ndarray, name: str) -> np.ndarray:
    """Apply a numpy view to the last two axes of (..., H, W)."""
    flat = x.reshape(-1, *x.shape[-2:])
    return np.stack([NUMPY_VIEWS[name](a) for a in flat]).reshape(x.shape)


def test_dihedral_views_are_exactly_the_eight_numpy_transforms():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 5, 5)).astype(np.float32)  # odd size: a centre pixel too
    views = dihedral_views(torch.from_numpy(x)).numpy()
    assert views.shape == (8 * 2, 3, 5, 5)
    assert tuple(VIEW_NAMES) == tuple(NUMPY_VIEWS)
    for v, name in enumerate(VIEW_NAMES):
        np.testing.assert_array_equal(views[v * 2:(v + 1) * 2], _numpy_view(x, name))
    # All 8 differ on a generic input, and they are the whole group: closed under composition.
    probe = rng.normal(size=(4, 4))
    images = {name: fn(probe).tobytes() for name, fn in NUMPY_VIEWS.items()}
    assert len(set(images.values())) == 8
    for f, g in itertools.product(NUMPY_VIEWS.values(), repeat=2):
        assert f(g(probe)).tobytes() in set(images.values())
    # The anti-transpose maps (i, j) to (n-1-j, n-1-i).
    n = probe.shape[0]
    anti = NUMPY_VIEWS["antitranspose"](probe)
    assert all(anti[i, j] == probe[n - 1 - j, n - 1 - i] for i in range(n) for j in range(n))


def test_view_probabilities_is_view_major():
    probs = torch.arange(24, dtype=torch.float64)  # 8 views x 3 images, view-major
    out = view_probabilities(probs, 3)
    assert out.shape == (3, 8)
    assert out[1, 2].item() == 2 * 3 + 1  # image 1, view 2


def _table(ham_source: Path) -> pd.DataFrame:
    return read_dataset(ham_source)


def _app_inputs(bundle, df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """What the app would feed: the bundle's preprocessing and its per-record encoding."""
    x = np.stack([bundle.preprocessing(p) for p in df["image_path"]])
    meta = np.stack([bundle.encode_metadata(a, s, t) for a, s, t in
                     zip(df["age"], df["sex"], df["site"], strict=True)])
    return x, meta


def test_predictions_equal_predict_arrays_for_every_view(ham_source, bundle64):
    df = _table(ham_source)
    bundle = load_bundle(bundle64)
    preds = predict([bundle], df, tta=True, batch_size=5, num_workers=0, progress=False)
    (member,) = preds.members
    assert member.views.shape == (len(df), 8)
    assert preds.keep.all() and preds.n_forward == 8 * len(df)
    x, meta = _app_inputs(load_bundle(bundle64), df)
    reference = load_bundle(bundle64)
    for v, name in enumerate(VIEW_NAMES):
        expected = predict_arrays(reference, np.ascontiguousarray(_numpy_view(x, name)), meta)
        np.testing.assert_allclose(member.views[:, v], expected, atol=1e-5, rtol=0)
    np.testing.assert_allclose(member.prob, member.views.mean(axis=1))
    # The spread between views is real (so the comparison above can fail).
    assert np.ptp(member.views, axis=1).max() > 1e-3


def test_plain_predictions_equal_predict_arrays(ham_source, bundle64):
    df = _table(ham_source)
    preds = predict([load_bundle(bundle64)], df, tta=False, batch_size=7, num_workers=1,
                    progress=False)
    x, meta = _app_inputs(load_bundle(bundle64), df)
    expected = predict_arrays(load_bundle(bundle64), x, meta)
    assert preds.members[0].views.shape == (len(df), 1)
    np.testing.assert_allclose(preds.members[0].prob, expected, atol=1e-5, rtol=0)
    assert np.ptp(expected) > 1e-3


@pytest.mark.parametrize("prefetch_batches", [1, 3])
def test_prefetching_scores_exactly_as_decoding_in_the_loop(ham_source, bundle64,
                                                             prefetch_batches):
    df = _table(ham_source)
    kw = {"tta": True, "batch_size": 3, "num_workers": 0, "progress": False}
    loop = predict([load_bundle(bundle64)], df, prefetch_batches=0, **kw)
    ahead = predict([load_bundle(bundle64)], df, prefetch_batches=prefetch_batches, **kw)
    np.testing.assert_array_equal(ahead.members[0].views, loop.members[0].views)
    assert np.isfinite(loop.members[0].views).all() and len(df) > 3 * (prefetch_batches + 1)


def test_metadata_ignore_feeds_the_encoders_unknown_encoding(ham_source, bundle64):
    df = _table(ham_source)
    bundle = load_bundle(bundle64)
    unknown = bundle.encoder.encode(None, None, None)
    ignored = metadata_matrix(bundle.encoder, df, "ignore")
    np.testing.assert_array_equal(ignored, np.tile(unknown, (len(df), 1)))
    assert ignored[0, 1] == 1.0  # age-missing flag set
    auto = metadata_matrix(bundle.encoder, df, "auto")
    assert not np.array_equal(auto, ignored)
    np.testing.assert_array_equal(auto, bundle.encoder.transform(df))

    preds = predict([bundle], df, metadata="ignore", num_workers=0, progress=False)
    x, _ = _app_inputs(bundle, df)
    expected = predict_arrays(load_bundle(bundle64), x, np.tile(unknown, (len(df), 1)))
    np.testing.assert_allclose(preds.members[0].prob, expected, atol=1e-5, rtol=0)
    with_meta = predict([bundle], df, metadata="auto", num_workers=0, progress=False)
    assert np.abs(with_meta.members[0].prob - preds.members[0].prob).max() > 1e-4


def test_members_use_their_own_preprocessing(ham_source, bundle_pair):
    df = _table(ham_source)
    paths = sorted(bundle_pair.glob("*/bundle"))
    bundles = [load_bundle(p) for p in paths]
    assert {b.preprocessing.size for b in bundles} == {64, 48}
    preds = predict(bundles, df, num_workers=0, progress=False)
    for path, member in zip(paths, preds.members, strict=True):
        ref = load_bundle(path)
        x, meta = _app_inputs(ref, df)
        np.testing.assert_allclose(member.prob, predict_arrays(ref, x, meta), atol=1e-5, rtol=0)


def test_unreadable_image_fail_and_skip(ham_source, bundle64, tmp_path):
    df = _table(ham_source)
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"this is not a JPEG")
    df.loc[3, "image_path"] = str(bad)
    item = ImageTable(df["image_path"].tolist(), load_bundle(bundle64).preprocessing)[3]
    assert "broken.jpg" in item[2] and item[1] == 3

    for ahead in (0, 2):  # the error stops the decoding thread too
        with pytest.raises(EvalError, match=r"broken\.jpg.*not a recognised image"):
            predict([load_bundle(bundle64)], df, num_workers=0, progress=False,
                    prefetch_batches=ahead)
        assert not [t for t in threading.enumerate() if t.name == "prefetch"]
    preds = predict([load_bundle(bundle64)], df, num_workers=0, progress=False,
                    on_bad_row="skip")
    assert preds.keep.sum() == len(df) - 1 and not preds.keep[3]
    assert len(preds.members[0].prob) == len(df) - 1
    assert "broken.jpg" in preds.failures[0]


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_engine_backend_agrees_with_eager(ham_source, bundle64, backend):
    pytest.importorskip("models.inference.engine",
                        reason="the inference engine is not in this checkout")
    if importlib.util.find_spec(backend) is None:  # no import: OpenVINO's runner loads it
        pytest.skip(f"{backend} is not installed")
    df = _table(ham_source).iloc[:8]
    kw = {"tta": True, "batch_size": 5, "num_workers": 0, "progress": False}
    eager = predict([load_bundle(bundle64)], df, **kw)
    # 40 images a call: a chunk of 32 on OpenVINO's fixed-shape graph, the rest dynamic
    fast = predict([load_bundle(bundle64)], df, backend=backend, precision="fp32", **kw)
    assert eager.backend == "eager" and fast.backend == backend
    np.testing.assert_allclose(fast.members[0].views, eager.members[0].views, atol=1e-4, rtol=0)


@pytest.mark.parametrize(("batch_size", "tta", "expected"),
                         [(None, False, ()), (1, False, (1,)), (16, False, (16,)),
                          (32, False, (32,)), (64, False, (32,)), (2, True, (16,)),
                          (16, True, (32,))])
def test_fixed_shapes_are_the_calls_of_a_full_batch(batch_size, tta, expected):
    assert fixed_shapes(batch_size, tta) == expected


def test_unknown_backend_is_an_eval_error(bundle64):
    from eval.pipeline.inference import make_forward

    with pytest.raises(EvalError, match="not one of"):
        make_forward(load_bundle(bundle64), "tensorrt")
