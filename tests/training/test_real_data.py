"""Slow: a short real training run on HAM10000 (skips when ../shared/data is absent)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.pl_train import main

HAM = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ham10000"

pytestmark = [pytest.mark.slow, pytest.mark.realdata]


@pytest.mark.skipif(not (HAM / "HAM10000_metadata.csv").is_file(),
                    reason=f"real HAM10000 data not found at {HAM}")
def test_short_real_run_learns(tmp_path: Path) -> None:
    """ImageNet-initialised Lite0 on 1,500 real images for 2 epochs beats chance clearly."""
    code = main(["--data-dir", str(HAM), "--backbone", "tf_efficientnet_lite0",
                 "--pretrained", "auto", "--image-size", "128", "--max-images", "1500",
                 "--epochs", "2", "--batch-size", "32", "--num-workers", "1",
                 "--output-dir", str(tmp_path), "--run-name", "real"])
    assert code == 0
    info = json.loads((tmp_path / "real" / "bundle" / "bundle.json").read_text())
    val = info["metrics"]["validation"]
    assert info["training_data"]["group_kind"] == "lesion"
    assert val["n_pos"] >= 20
    # Pretrained features separate melanoma from the rest well above chance even this early.
    assert val["auroc"] > 0.7, val["auroc"]
