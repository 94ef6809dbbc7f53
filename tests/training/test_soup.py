"""Weight averaging of checkpoints (training.soup)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from training.soup import SoupError, average_state_dicts, main, make_soup


def _state(seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"net.w": torch.randn(3, 4, generator=g),
            "net.bn.running_var": torch.rand(4, generator=g) + 0.5,
            "net.bn.num_batches_tracked": torch.tensor(100 * (seed + 1))}


def _ckpt(tmp_path: Path, seed: int, epoch: int) -> Path:
    path = tmp_path / f"run{seed}.ckpt"
    torch.save({"state_dict": _state(seed), "epoch": epoch}, path)
    return path


def test_average_is_elementwise_mean_and_counters_take_max() -> None:
    a, b, c = _state(0), _state(1), _state(2)
    soup = average_state_dicts([a, b, c])
    torch.testing.assert_close(soup["net.w"], (a["net.w"] + b["net.w"] + c["net.w"]) / 3)
    assert soup["net.w"].dtype == torch.float32
    assert int(soup["net.bn.num_batches_tracked"]) == 300


def test_soup_of_identical_states_is_that_state() -> None:
    a = _state(3)
    soup = average_state_dicts([a, {k: v.clone() for k, v in a.items()}])
    for key in a:
        torch.testing.assert_close(soup[key], a[key], rtol=0, atol=0)


@pytest.mark.parametrize("change, match", [
    (lambda s: s.pop("net.w"), "different parameters"),
    (lambda s: s.update({"net.w": torch.zeros(4, 3)}), r"net\.w is \(4, 3\)"),
    (lambda s: s.update({"net.w": torch.zeros(3, 4, dtype=torch.float64)}), "float64"),
])
def test_mismatched_states_are_refused(change, match: str) -> None:
    other = _state(1)
    change(other)
    with pytest.raises(SoupError, match=match):
        average_state_dicts([_state(0), other], ["a.ckpt", "b.ckpt"])


def test_one_checkpoint_is_not_a_soup() -> None:
    with pytest.raises(SoupError, match="at least two"):
        average_state_dicts([_state(0)])


def test_make_soup_writes_a_safely_loadable_checkpoint(tmp_path: Path) -> None:
    out = make_soup([_ckpt(tmp_path, 0, 7), _ckpt(tmp_path, 1, 11)], tmp_path / "s" / "soup.ckpt")
    ckpt = torch.load(out, map_location="cpu", weights_only=True)
    assert ckpt["epoch"] == 11 and len(ckpt["soup_of"]) == 2
    torch.testing.assert_close(ckpt["state_dict"]["net.w"],
                               (_state(0)["net.w"] + _state(1)["net.w"]) / 2)


def test_cli_reports_bad_checkpoint_with_exit_2(tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    bad = tmp_path / "notes.ckpt"
    bad.write_text("not a checkpoint")
    code = main([str(_ckpt(tmp_path, 0, 1)), str(bad), "--out", str(tmp_path / "x.ckpt")])
    assert code == 2
    assert "notes.ckpt: not a readable checkpoint" in caplog.text
    assert not (tmp_path / "x.ckpt").exists()
