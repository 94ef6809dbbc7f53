"""Training augmentation: image views and metadata masking."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from data.encoding import MetadataEncoder
from data.images import Preprocessing
from training.components.augment import MetadataMasking, RandomDownscale, TrainAugment


@pytest.fixture
def enc() -> MetadataEncoder:
    return MetadataEncoder().fit(pd.DataFrame({"age": [30.0, 50.0, 70.0]}))


@pytest.fixture
def record(enc: MetadataEncoder) -> torch.Tensor:
    return torch.from_numpy(enc.encode(45, "male", "posterior torso"))


@pytest.mark.parametrize("color", [0.0, 0.3])
def test_train_augment_shape_and_dtype(color: float) -> None:
    pre = Preprocessing(size=48, color_constancy="shades_of_gray")
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (60, 80, 3), np.uint8))
    x = TrainAugment(pre, scale_min=0.3, color=color)(img)
    assert x.shape == (3, 48, 48) and x.dtype == torch.float32
    assert torch.isfinite(x).all()


def test_masking_prob_zero_is_identity(enc, record) -> None:
    torch.testing.assert_close(MetadataMasking(enc, 0.0)(record), record, rtol=0, atol=0)


def test_masking_prob_one_gives_the_encoders_blank_record(enc, record) -> None:
    out = MetadataMasking(enc, 1.0)(record)
    np.testing.assert_array_equal(out.numpy(), enc.encode(None, None, None))


def test_masking_does_not_modify_its_input(enc, record) -> None:
    before = record.clone()
    MetadataMasking(enc, 1.0)(record)
    torch.testing.assert_close(record, before, rtol=0, atol=0)


def test_masking_blanks_whole_fields_independently_at_the_given_rate(enc, record) -> None:
    torch.manual_seed(0)
    masking, missing = MetadataMasking(enc, 0.3), enc.missing_vector()
    n, blanked = 4000, {f: 0 for f in enc.field_slices}
    both = 0
    for _ in range(n):
        out = masking(record).numpy()
        states = {}
        for field, sl in enc.field_slices.items():
            is_blank = np.array_equal(out[sl], missing[sl])
            # every block is either untouched or exactly the blank encoding, never a mix
            assert is_blank or np.array_equal(out[sl], record.numpy()[sl])
            states[field] = is_blank
            blanked[field] += is_blank
        both += states["sex"] and states["site"]
    for field, count in blanked.items():
        assert count / n == pytest.approx(0.3, abs=0.03), field
    assert both / n == pytest.approx(0.09, abs=0.02)  # independent fields: 0.3 * 0.3


@pytest.mark.parametrize("prob", [-0.1, 1.5])
def test_masking_rejects_bad_probability(enc, prob: float) -> None:
    with pytest.raises(ValueError, match="masking probability"):
        MetadataMasking(enc, prob)


@pytest.mark.parametrize(("size", "low", "cap"), [((400, 300), 64, 224), ((200, 150), 84, 224),
                                                  ((100, 100), 32, 64)])
def test_random_downscale_sides_stay_in_range(size, low, cap):
    torch.manual_seed(0)
    shrink = RandomDownscale(1.0, low, cap)
    img = Image.new("RGB", size, (120, 80, 60))
    sides = {min(shrink(img).size) for _ in range(60)}
    upper = min(min(size), cap)
    assert min(sides) >= low and max(sides) <= upper
    assert len(sides) > 5  # really random
    out = shrink(img)
    assert abs(out.size[0] / out.size[1] - size[0] / size[1]) < 0.05  # aspect kept


def test_random_downscale_leaves_small_images_and_prob_zero_alone():
    img = Image.new("RGB", (60, 60))
    assert RandomDownscale(1.0, 64, 224)(img) is img
    big = Image.new("RGB", (300, 300))
    assert RandomDownscale(0.0, 64, 224)(big) is big


def test_augment_output_size_with_downscale():
    pre = Preprocessing(size=64)
    out = TrainAugment(pre, downscale_prob=1.0, downscale_min=16)(Image.new("RGB", (200, 150)))
    assert tuple(out.shape) == (3, 64, 64)


@pytest.mark.parametrize(("prob", "low"), [(-0.1, 64), (1.5, 64), (0.5, 0)])
def test_random_downscale_refuses_bad_settings(prob, low):
    with pytest.raises(ValueError):
        RandomDownscale(prob, low, 224)
