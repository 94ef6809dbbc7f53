"""Unit tests for configs.training.TrainSettings: defaults, precedence, --help, validation."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import ValidationError

from configs.training import TrainSettings

pytestmark = pytest.mark.usefixtures("isolated")  # tests/configs/conftest.py


def _errors(err: ValidationError) -> list[tuple[tuple, str]]:
    return [(tuple(e["loc"]), e["msg"]) for e in err.errors()]


def test_defaults():
    s = TrainSettings.from_cli([])
    assert s.batch_size == 32
    assert s.backbone == "efficientnet_b0"
    assert s.image_size == 224
    assert s.fold == 0 and s.n_folds == 5
    assert s.loss == "focal"
    assert s.focal_alpha == 0.75 and s.focal_gamma == 2.0
    assert s.pretrained == "auto"
    assert s.use_metadata is True
    assert s.meta_hidden == (64, 32)
    assert s.data == [Path("datasets/ham10000")]
    assert s.images == [] and s.exclude_data == [] and s.val_source == []
    assert s.source_weights == {} and s.aug_downscale_prob == 0.0
    assert s.wandb is False


def test_constructor_without_cli_uses_defaults():
    assert TrainSettings().batch_size == 32


@pytest.mark.parametrize("var, value, field, expected", [
    ("MELANOMA_BATCH_SIZE", "8", "batch_size", 8),
    ("MELANOMA_BACKBONE", "tf_efficientnet_lite0", "backbone", "tf_efficientnet_lite0"),
    ("MELANOMA_USE_METADATA", "false", "use_metadata", False),
    ("MELANOMA_FOCAL_ALPHA", "0.5", "focal_alpha", 0.5),
    ("MELANOMA_META_HIDDEN", "[16, 8]", "meta_hidden", (16, 8)),
    ("melanoma_image_size", "128", "image_size", 128),  # env names are case-insensitive
])
def test_env_overrides_default(monkeypatch, var, value, field, expected):
    monkeypatch.setenv(var, value)
    assert getattr(TrainSettings.from_cli([]), field) == expected


def test_env_without_prefix_is_ignored(monkeypatch):
    monkeypatch.setenv("BATCH_SIZE", "3")
    assert TrainSettings.from_cli([]).batch_size == 32


def test_dotenv_env_cli_precedence(monkeypatch, isolated):
    (isolated / ".env").write_text("MELANOMA_BATCH_SIZE=16\nMELANOMA_EPOCHS=3\n"
                                   "MELANOMA_APP_PORT=9999\nUNRELATED=1\n")
    s = TrainSettings.from_cli([])
    assert s.batch_size == 16  # .env beats the default
    assert s.epochs == 3
    monkeypatch.setenv("MELANOMA_BATCH_SIZE", "8")
    s = TrainSettings.from_cli([])
    assert s.batch_size == 8  # env beats .env
    assert s.epochs == 3  # .env still applies to the rest
    s = TrainSettings.from_cli(["--batch-size", "4"])
    assert s.batch_size == 4  # CLI beats env
    assert s.epochs == 3


def test_dotenv_is_read_from_the_working_directory(monkeypatch, tmp_path):
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / ".env").write_text("MELANOMA_BATCH_SIZE=2\n")
    assert TrainSettings.from_cli([]).batch_size == 32
    monkeypatch.chdir(other)
    assert TrainSettings.from_cli([]).batch_size == 2


@pytest.mark.parametrize("argv, field, expected", [
    (["--batch-size", "4"], "batch_size", 4),
    (["--backbone", "tf_efficientnet_lite0"], "backbone", "tf_efficientnet_lite0"),
    (["--image-size", "96"], "image_size", 96),
    (["--focal-alpha", "0.3"], "focal_alpha", 0.3),
    (["--loss", "bce"], "loss", "bce"),
    (["--no-use-metadata"], "use_metadata", False),
    (["--verify-images"], "verify_images", True),
    (["--meta-hidden", "[16,8]"], "meta_hidden", (16, 8)),
    (["--data-dir", "some/where"], "data", [Path("some/where")]),
    (["--data-dir", "a", "--data-dir", "b"], "data", [Path("a"), Path("b")]),
    (["--data-dir", "a,b"], "data", [Path("a"), Path("b")]),
    (["--data-dir", "a", "--data-dir", "b", "--data-format", "ham10000", "--data-format",
      "isic2019"], "data_format", ["ham10000", "isic2019"]),
    (["--val-source", "MSK,ISIC_archive"], "val_source", ["MSK", "ISIC_archive"]),
    (["--exclude-data-dir", "x"], "exclude_data", [Path("x")]),
    (["--source-weights", "BCN=0.5,HAM10000=1"], "source_weights", {"BCN": 0.5, "HAM10000": 1}),
    (["--aug-downscale-prob", "0.5"], "aug_downscale_prob", 0.5),
    (["--fold", "2", "--n-folds", "3"], "fold", 2),
    (["--max-images", "100"], "max_images", 100),
    (["--pretrained", "file", "--pretrained-path", "w.pth"], "pretrained_path", Path("w.pth")),
])
def test_cli_flags(argv, field, expected):
    assert getattr(TrainSettings.from_cli(argv), field) == expected


def test_help_lists_flags(capsys):
    with pytest.raises(SystemExit) as info:
        TrainSettings.from_cli(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "python -m training.pl_train" in out
    for flag in ["--batch-size", "--focal-alpha", "--backbone", "--image-size", "--data",
                 "--pretrained", "--fold", "--n-folds", "--loss", "--color-constancy",
                 "--no-use-metadata", "--epochs", "--lr-backbone"]:
        assert flag in out, flag
    assert "focal loss positive weight" in out  # field descriptions are shown


def test_unknown_cli_flag_exits(capsys):
    with pytest.raises(SystemExit) as info:
        TrainSettings.from_cli(["--batch-sise", "4"])
    assert info.value.code != 0
    assert "--batch-sise" in capsys.readouterr().err


@pytest.mark.parametrize("argv, field", [
    (["--lr-backbone", "-1"], "lr_backbone"),
    (["--lr-head", "0"], "lr_head"),
    (["--batch-size", "0"], "batch_size"),
    (["--batch-size", "abc"], "batch_size"),
    (["--focal-alpha", "1.5"], "focal_alpha"),
    (["--focal-gamma", "-1"], "focal_gamma"),
    (["--image-size", "16"], "image_size"),
    (["--n-folds", "1"], "n_folds"),
    (["--fold", "-1"], "fold"),
    (["--max-images", "5"], "max_images"),
    (["--meta-dropout", "1.0"], "meta_dropout"),
    (["--loss", "mse"], "loss"),
    (["--color-constancy", "grey_world"], "color_constancy"),
])
def test_invalid_field_value_names_the_field(argv, field):
    with pytest.raises(ValidationError) as info:
        TrainSettings.from_cli(argv)
    locs = [loc for loc, _ in _errors(info.value)]
    assert (field,) in locs
    assert field in str(info.value)


def test_invalid_env_value_names_the_field(monkeypatch):
    monkeypatch.setenv("MELANOMA_BATCH_SIZE", "-3")
    with pytest.raises(ValidationError) as info:
        TrainSettings.from_cli([])
    assert ("batch_size",) in [loc for loc, _ in _errors(info.value)]


@pytest.mark.parametrize("argv", [["--fold", "5"], ["--fold", "3", "--n-folds", "3"],
                                  ["--fold", "9", "--n-folds", "2"]])
def test_fold_must_exist(argv):
    with pytest.raises(ValidationError) as info:
        TrainSettings.from_cli(argv)
    msg = str(info.value)
    assert "fold" in msg and "n_folds" in msg


def test_last_fold_is_fine():
    s = TrainSettings.from_cli(["--fold", "4"])
    assert (s.fold, s.n_folds) == (4, 5)


def test_pretrained_file_needs_path():
    with pytest.raises(ValidationError, match="pretrained-path"):
        TrainSettings.from_cli(["--pretrained", "file"])


def test_metadata_needs_hidden_widths():
    with pytest.raises(ValidationError, match="meta_hidden"):
        TrainSettings.from_cli(["--meta-hidden", "[]"])
    s = TrainSettings.from_cli(["--meta-hidden", "[]", "--no-use-metadata"])
    assert s.meta_hidden == () and not s.use_metadata


def test_data_dir_env_var_comma_list(monkeypatch):
    monkeypatch.setenv("MELANOMA_DATA_DIR", "a,b")
    assert TrainSettings.from_cli([]).data == [Path("a"), Path("b")]


@pytest.mark.parametrize("variable", ["MELANOMA_DATA", "MELANOMA_DATA_DIR"])
def test_the_new_env_name_and_the_old_one_both_work(monkeypatch, variable):
    monkeypatch.setenv(variable, "a,b")
    assert TrainSettings.from_cli([]).data == [Path("a"), Path("b")]
    assert TrainSettings.from_cli(["--data", "c"]).data == [Path("c")]  # the flag wins


def test_the_new_env_name_wins_over_the_old_one(monkeypatch):
    monkeypatch.setenv("MELANOMA_DATA_DIR", "old")
    monkeypatch.setenv("MELANOMA_DATA", "new")
    assert TrainSettings.from_cli([]).data == [Path("new")]


@pytest.mark.parametrize(("old", "new"), [("--data-dir", "--data"), ("--images-dir", "--images"),
                                          ("--exclude-data-dir", "--exclude-data")])
def test_renamed_flags_still_work_with_a_warning(old, new, caplog):
    with caplog.at_level(logging.WARNING):
        s = TrainSettings.from_cli([old, "x", "--data", "d"] if old != "--data-dir"
                                   else [old, "x"])
    field = new.lstrip("-").replace("-", "_")
    assert getattr(s, field)[0] == Path("x")
    assert f"{old} is now {new}" in caplog.text


def test_evaluation_speaks_the_same_words(caplog):
    from configs.evaluation import EvalSettings

    new = EvalSettings.from_cli(["--data", "d", "--images", "i", "--data-format", "ham10000"])
    with caplog.at_level(logging.WARNING):
        old = EvalSettings.from_cli(["--data", "d", "--images", "i", "--format", "ham10000"])
    assert new.data_format == old.data_format == "ham10000"
    assert "--format is now --data-format" in caplog.text


@pytest.mark.parametrize(("argv", "message"), [
    (["--source-weights", "BCN"], "expected NAME=NUMBER"),
    (["--source-weights", "BCN=x"], "expected NAME=NUMBER"),
    (["--source-weights", "BCN=-1"], "expected NAME=NUMBER"),
    (["--data-dir", "a", "--data-dir", "b", "--data-format", "ham10000", "--data-format",
      "isic2019", "--data-format", "isic2017"], "3 --data-format values for 2"),
    (["--data-dir", "a", "--data-dir", "b", "--images-dir", "i"], "1 --images values"),
])
def test_bad_multi_source_settings(argv, message):
    with pytest.raises((ValueError, SystemExit), match=message):
        TrainSettings.from_cli(argv)
