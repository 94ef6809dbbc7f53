"""Near-copies by content: fingerprints, their similarity, and holding them out of training."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from data import near_copies
from data.multisource import DATASET_COLUMN, dataset_specs, drop_near_copies, read_sources
from data.readers import read_dataset
from data.sources import canonical_image_key
from tests.data.conftest import ISIC2017_DIR, ISIC2019_DIR
from tests.data.test_multisource import write_isic2019


def lesion(seed: int, side: int = 96) -> Image.Image:
    """A textured RGB image unlike any other seed's (smooth blobs at random places)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0:side] / side
    grey = np.zeros((side, side))
    for _ in range(6):
        cy, cx, r = rng.uniform(0.1, 0.9, 2).tolist() + [rng.uniform(0.05, 0.3)]
        grey += rng.uniform(-1, 1) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / r ** 2)
    grey = (grey - grey.min()) / (np.ptp(grey) + 1e-9)
    rgb = np.stack([grey * 200 + 30, grey * 120 + 60, grey * 90 + 40], axis=-1)
    return Image.fromarray(rgb.astype(np.uint8))


def similarity(a: Image.Image, b: Image.Image) -> float:
    _, sim = near_copies.nearest(near_copies.fingerprint(a)[None],
                                 near_copies.fingerprint(b)[None])
    return float(sim[0])


def test_fingerprint_is_centred_and_unit_norm():
    fp = near_copies.fingerprint(lesion(0))
    assert fp.shape == (near_copies.FINGERPRINT_SIDE ** 2,) and fp.dtype == np.float32
    assert abs(float(fp.mean())) < 1e-5
    assert float(np.linalg.norm(fp)) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("change", [
    lambda im: im.resize((40, 40), Image.Resampling.BILINEAR),  # ISIC 2019's 84 px copies
    lambda im: im.transpose(Image.Transpose.ROTATE_90),
    lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT).transpose(Image.Transpose.ROTATE_180),
    lambda im: Image.fromarray(np.clip(np.asarray(im) * 0.7 + 20, 0, 255).astype(np.uint8)),
    lambda im: im.convert("L"),
], ids=["smaller", "rot90", "flip+rot180", "darker", "grey"])
def test_a_changed_copy_scores_like_a_copy(change):
    image = lesion(1)
    assert similarity(change(image), image) >= 0.98


def test_other_lesions_score_low_and_a_flat_image_matches_nothing():
    scores = [similarity(lesion(i), lesion(j)) for i in range(6) for j in range(i + 1, 6)]
    assert max(scores) < 0.9
    flat = near_copies.fingerprint(Image.new("RGB", (64, 64), (120, 80, 60)))
    assert np.allclose(flat, 0)


def test_nearest_finds_each_copy_across_blocks(monkeypatch):
    monkeypatch.setattr(near_copies, "_ROWS_PER_BLOCK", 3)  # several blocks with a remainder
    refs = near_copies.fingerprints([lesion(i) for i in range(10)])
    order = [7, 2, 9, 0, 4, 4, 1]
    queries = near_copies.fingerprints(
        [lesion(i).transpose(Image.Transpose.ROTATE_270).resize((50, 50)) for i in order])
    index, sim = near_copies.nearest(queries, refs)
    assert index.tolist() == order
    assert (sim >= 0.98).all()
    brute = np.max([queries @ v.T for v in near_copies.dihedral_views(refs).transpose(1, 0, 2)],
                   axis=0)
    np.testing.assert_allclose(sim, brute.max(axis=1), rtol=1e-6)


def test_nearest_needs_references():
    with pytest.raises(ValueError, match="no reference"):
        near_copies.nearest(np.zeros((2, near_copies.FINGERPRINT_SIDE ** 2), np.float32),
                            np.zeros((0, near_copies.FINGERPRINT_SIDE ** 2), np.float32))


def test_unreadable_images_match_nothing_and_are_named(tmp_path, caplog):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    with caplog.at_level(logging.WARNING, logger="data.near_copies"):
        prints = near_copies.fingerprints([lesion(3), str(bad)])
    assert np.allclose(prints[1], 0) and not np.allclose(prints[0], 0)
    assert "1 image(s) could not be read" in caplog.text and "broken.jpg" in caplog.text


def write_textured(root, rows, seeds, transform=lambda im: im):
    """write_isic2019, then replace each image by lesion(seed) (transformed)."""
    write_isic2019(root, rows)
    for (image, *_), seed in zip(rows, seeds, strict=True):
        transform(lesion(seed)).save(root / "ISIC_2019_Training_Input" / f"{image}.jpg",
                                     quality=90)
    return root


def test_read_sources_holds_out_a_lesion_republished_under_another_id(tmp_path):
    # Training: ISIC_10 is held-out ISIC_90 re-published (rotated, smaller) with no lesion id;
    # ISIC_11 shares a lesion with ISIC_12, which is a copy of ISIC_91 (so both leave);
    # ISIC_13 and ISIC_14 are other lesions.
    train = write_textured(tmp_path / "train", [
        ("ISIC_10", "", "MEL", 64), ("ISIC_11", "MSK4_1", "NV", 64),
        ("ISIC_12", "MSK4_1", "NV", 64), ("ISIC_13", "BCN_1", "NV", 64),
        ("ISIC_14", "", "MEL", 64)], seeds=[90, 11, 91, 13, 14])
    for name, seed in (("ISIC_10", 90), ("ISIC_12", 91)):
        lesion(seed).transpose(Image.Transpose.ROTATE_90).resize((60, 60)).save(
            train / "ISIC_2019_Training_Input" / f"{name}.jpg", quality=85)
    held = write_textured(tmp_path / "held", [("ISIC_90", "", "MEL", 96),
                                              ("ISIC_91", "", "NV", 96)], seeds=[90, 91])
    by_id = read_sources(dataset_specs([train]), exclude=dataset_specs([held]))
    assert len(by_id) == 5 and "near_copies" not in by_id.attrs
    df = read_sources(dataset_specs([train]), exclude=dataset_specs([held]),
                      near_copy_similarity=0.98)
    assert sorted(df["image_id"]) == ["ISIC_13", "ISIC_14"]
    assert df.index.tolist() == [0, 1] and (df[DATASET_COLUMN] == 0).all()
    assert df.attrs["near_copies"] == {"min_similarity": 0.98, "n_removed": {str(held): 2}}
    assert df.attrs["datasets"][0]["n_used"] == 2


def test_drop_near_copies_with_nothing_held_out_keeps_everything(tmp_path):
    train = write_textured(tmp_path / "train", [("ISIC_1", "", "MEL", 64)], seeds=[1])
    df = read_dataset(train)
    kept, counts = drop_near_copies(df, {"empty": df.iloc[:0]}, 0.93)
    assert kept is df and counts == {"empty": 0}


@pytest.mark.parametrize(("argv", "message"), [
    (["--exclude-near-copies", "0.93"], "give --exclude-data or --test-data"),
    (["--exclude-data", "x", "--exclude-near-copies", "0"], "greater than 0"),
    (["--exclude-data", "x", "--exclude-near-copies", "1.5"], "less than or equal to 1"),
])
def test_settings_refuse_near_copies_without_a_held_out_set(argv, message):
    from configs.training import TrainSettings

    with pytest.raises(Exception, match=message):
        TrainSettings.from_cli(argv)


def test_real_isic2017_copies_in_isic2019_score_as_copies():
    """ISIC 2019 (84 px) re-encodes ISIC 2017 (256 px) images under the same ids: each copy's
    nearest ISIC 2017 image is its own original, at a copy's similarity."""
    for folder in (ISIC2017_DIR, ISIC2019_DIR):
        if not folder.is_dir():
            pytest.skip(f"real data not present: {folder}")
    old = read_dataset(ISIC2017_DIR).iloc[::10]  # 200 images
    new = read_dataset(ISIC2019_DIR, fmt="isic2019")
    new = new[new["image_id"].map(canonical_image_key).isin(set(old["image_id"]))]
    assert len(new) >= 190
    index, sim = near_copies.nearest(near_copies.fingerprints(new["image_path"].tolist()),
                                     near_copies.fingerprints(old["image_path"].tolist()))
    matched = old["image_id"].to_numpy()[index]
    own = new["image_id"].map(canonical_image_key).to_numpy()
    assert (matched == own).mean() >= 0.99
    assert np.percentile(sim, 5) >= 0.97 and pd.Series(sim).median() >= 0.99
