"""training.stack: out-of-fold trees without leakage, saved as text/JSON, refused if tampered."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.second_stage.stack import load_stack
from models.second_stage.trees import TreeError, TreeModel
from tests.eval.conftest import build_bundle
from training import embed, stack

FAST = ["--n-folds", "3", "--embedding-dims", "2", "--n-estimators", "60",
        "--early-stopping-rounds", "20", "--learning-rate", "0.1", "--no-progress"]


@pytest.fixture(scope="module")
def embeddings(ham_dataset, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("stack")
    bundle = build_bundle(root / "bundle", size=48)
    out = root / "emb.parquet"
    assert embed.main(["--bundle", str(bundle), "--data-dir", str(ham_dataset), "--unseen",
                       "--out", str(out), "--no-progress"]) == 0
    return out


@pytest.fixture(scope="module")
def lightgbm_run(embeddings, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("lgb") / "stack"
    assert stack.main(["--embeddings", str(embeddings), "--out", str(out), *FAST]) == 0
    return out


def test_outputs_and_reloaded_trees_agree(lightgbm_run, embeddings):
    oof = pd.read_csv(lightgbm_run / "oof_predictions.csv")
    summary = json.loads((lightgbm_run / "stack_summary.json").read_text())
    assert len(oof) == summary["n"] == 48 and summary["n_pos"] == 12
    assert oof["prob"].between(0, 1).all() and oof["lightgbm_prob"].notna().all()
    # Groups never straddle folds.
    assert (oof.groupby("group_id")["fold"].nunique() == 1).all()
    # No patient ids in this dataset: no patient features, said so by their absence.
    assert not any(c.endswith("_pz") for c in summary["features"])
    loaded = load_stack(lightgbm_run)
    df = pd.read_parquet(embeddings)
    base = stack.stack_features(df, with_image_stats=True)
    emb = df.filter(like="m0_emb_").to_numpy(np.float32)
    pred = loaded.predict(base, emb)
    assert pred.shape == (48,) and np.isfinite(pred).all() and pred.std() > 0
    spec = json.loads((lightgbm_run / "features.json").read_text())
    assert spec["trees"][0]["file"].endswith(".txt")  # LightGBM's own text format
    importance = spec["trees"][0]["importance"]
    assert set(importance) == set(spec["trees"][0]["columns"])
    assert sum(importance.values()) == pytest.approx(1.0, abs=1e-3)
    assert list(summary["models"]["lightgbm"]["importance_top"]) == list(importance)[:15]


def test_each_fold_is_predicted_by_trees_that_never_saw_it(embeddings, tmp_path, monkeypatch):
    seen: list[tuple[int, set]] = []
    real_fit = TreeModel.fit.__func__

    def spy(cls, library, x, y, **kw):
        seen.append((len(x), {tuple(np.round(r, 6)) for r in x}))
        return real_fit(cls, library, x, y, **kw)

    monkeypatch.setattr(TreeModel, "fit", classmethod(spy))
    settings = stack.StackSettings.from_cli(["--embeddings", str(embeddings),
                                             "--out", str(tmp_path / "s"), *FAST])
    df, embs = stack.load_embeddings(embeddings)
    folds = stack.stack_folds(df, 3, settings.seed)
    features = stack.stack_features(df, with_image_stats=False)
    y = df["target"].to_numpy()
    for outer in range(3):
        seen.clear()
        stack.fit_fold(settings, "lightgbm", features, embs, y, folds, outer)
        (n_fit, fitted), = seen
        stop = (outer + 1) % 3
        assert n_fit == int((~np.isin(folds, [outer, stop])).sum())
        pcas = [stack._pca(embs[0][~np.isin(folds, [outer, stop])], 2)]
        x = stack.with_components(features, embs, pcas).to_numpy(np.float32)
        for row in x[(folds == outer) | (folds == stop)]:
            assert tuple(np.round(row, 6)) not in fitted


@pytest.mark.parametrize("library", ["xgboost", "catboost"])
def test_other_libraries_save_json_and_reload(library, embeddings, tmp_path):
    out = tmp_path / library
    assert stack.main(["--embeddings", str(embeddings), "--out", str(out), "--model", library,
                       "--no-image-stats", *FAST]) == 0
    spec = json.loads((out / "features.json").read_text())
    assert spec["trees"][0]["file"].endswith(".json")
    json.loads((out / spec["trees"][0]["file"]).read_text())  # plain JSON, not a pickle
    oof = pd.read_csv(out / "oof_predictions.csv")
    df = pd.read_parquet(embeddings)
    stacked = load_stack(out)
    pred = stacked.predict(stack.stack_features(df, with_image_stats=False),
                           df.filter(like="m0_emb_").to_numpy(np.float32))
    assert np.isfinite(pred).all() and len(oof) == len(pred)


def test_several_libraries_are_rank_averaged(embeddings, tmp_path):
    out = tmp_path / "both"
    assert stack.main(["--embeddings", str(embeddings), "--out", str(out), "--tree-libraries",
                       "lightgbm,xgboost", "--combiner", "mean", "--no-image-stats", *FAST]) == 0
    oof = pd.read_csv(out / "oof_predictions.csv")
    # Percentiles in each library's out-of-fold scores: rank ("max" ties) / n, up to the
    # stored quantiles' resolution.
    ranks = [oof[c].rank(method="max").to_numpy() / len(oof)
             for c in ("lightgbm_prob", "xgboost_prob")]
    np.testing.assert_allclose(oof["prob"], np.mean(ranks, axis=0), atol=0.03)
    # The saved stack combines one image exactly as the out-of-fold rows were combined.
    stacked = load_stack(out)
    df = pd.read_parquet(embeddings)
    base = stack.stack_features(df, with_image_stats=False)
    emb = df.filter(like="m0_emb_").to_numpy(np.float32)
    single = [stacked.predict(base.iloc[[i]].reset_index(drop=True), emb[[i]])[0]
              for i in range(3)]
    np.testing.assert_allclose(single, stacked.predict(base, emb)[:3])


def test_tampered_tree_file_is_refused(lightgbm_run, tmp_path):
    import shutil

    copy = Path(shutil.copytree(lightgbm_run, tmp_path / "copy"))
    trees = copy / json.loads((copy / "features.json").read_text())["trees"][0]["file"]
    trees.write_text(trees.read_text().replace("Tree=0", "Tree=0\n", 1))
    with pytest.raises(TreeError, match="SHA-256 does not match"):
        load_stack(copy)
    trees.unlink()
    with pytest.raises(TreeError, match="missing"):
        load_stack(copy)


@pytest.mark.parametrize(("change", "fact"), [
    ({"format": "other"}, "not a melanoma-stack manifest"),
    ({"schema_version": 99}, "schema 1"),
    ({"trees": "x"}, "invalid content"),
])
def test_a_foreign_or_broken_manifest_is_refused(change, fact, lightgbm_run, tmp_path):
    import shutil

    copy = Path(shutil.copytree(lightgbm_run, tmp_path / "copy"))
    spec = json.loads((copy / "features.json").read_text())
    (copy / "features.json").write_text(json.dumps({**spec, **change}))
    with pytest.raises(TreeError, match=fact):
        load_stack(copy)


def test_two_stage_bundle_carries_the_trees(embeddings, lightgbm_run, tmp_path):
    from models.bundle.io import load_bundle
    from models.second_stage.stack import bundle_stack

    cnn = embeddings.parent / "bundle"
    out = tmp_path / "two-stage"
    assert stack.main(["--embeddings", str(embeddings), "--out", str(tmp_path / "s"),
                       "--bundle", str(cnn), "--two-stage-out", str(out), *FAST]) == 0
    two = load_bundle(out)
    info = json.loads((out / "bundle.json").read_text())
    assert info["schema_version"] == 3 and two.has_second_stage
    assert two.bundle_id == load_bundle(cnn).bundle_id  # the same CNN
    assert not load_bundle(cnn).has_second_stage and bundle_stack(load_bundle(cnn)) is None
    inside = bundle_stack(two)
    df = pd.read_parquet(embeddings)
    base = stack.stack_features(df, with_image_stats=True)
    emb = df.filter(like="m0_emb_").to_numpy(np.float32)
    np.testing.assert_allclose(inside.predict(base, emb),
                               load_stack(tmp_path / "s").predict(base, emb))
    # A replaced manifest is refused before any tree file is parsed.
    manifest = out / "second_stage" / "features.json"
    manifest.write_text(manifest.read_text() + " ")
    with pytest.raises(TreeError, match="does not match bundle.json"):
        bundle_stack(load_bundle(out))


def test_two_stage_out_needs_the_bundle(embeddings, tmp_path, capsys):
    assert stack.main(["--embeddings", str(embeddings), "--out", str(tmp_path / "s"),
                       "--two-stage-out", str(tmp_path / "t"), *FAST]) == 2
    assert "--two-stage-out needs --bundle" in capsys.readouterr().err


def test_isic2024_tbp_and_patient_features_reach_the_trees(tmp_path):
    from tests.data.test_isic2024 import _jpegs
    from tests.helpers import write_isic2024

    root = write_isic2024(tmp_path / "isic2024", _jpegs(tmp_path, False))
    bundle = build_bundle(tmp_path / "bundle", size=48)
    emb = tmp_path / "emb.parquet"
    assert embed.main(["--bundle", str(bundle), "--data-dir", str(root), "--unseen",
                       "--out", str(emb), "--no-progress"]) == 0
    df = pd.read_parquet(emb)
    assert {"tbp_lv_areaMM2", "tbp_lv_H"} <= set(df.columns)  # read from the metadata CSV
    assert (df["group_kind"] == "patient").all()
    out = tmp_path / "stack"
    assert stack.main(["--embeddings", str(emb), "--out", str(out), *FAST]) == 0
    features = json.loads((out / "stack_summary.json").read_text())["features"]
    assert {"tbp_lv_areaMM2", "tbp_lv_H", "patient_n_lesions", "cnn_prob_pz",
            "tbp_lv_H_prank", "cnn_prob_pdev", "cnn_prob_pmax", "tbp_lv_H_pmin",
            "emb_patient_dist"} <= set(features)
    # The tabular baseline has the patient context of everything but the CNN's output.
    tabular = next(e for e in json.loads((out / "features.json").read_text())["trees"]
                   if e["name"] == "tabular-lightgbm")
    assert {"tbp_lv_H_pz", "patient_n_lesions", "age"} <= set(tabular["columns"])
    assert not {"cnn_prob_pz", "cnn_logit", "emb_patient_dist"} & set(tabular["columns"])
    # One uploaded image has no TBP measurements and no patient: NaN, the trees still score.
    one = stack.stack_features(df.iloc[[0]].drop(columns=["tbp_lv_areaMM2", "tbp_lv_H"])
                              .assign(group_kind="lesion"), with_image_stats=True)
    score = load_stack(out).predict(one.reset_index(drop=True),
                                    df.filter(like="m0_emb_").to_numpy(np.float32)[[0]])
    assert score.shape == (1,) and np.isfinite(score).all()


def test_the_tabular_baseline_sees_no_cnn_output(lightgbm_run, embeddings):
    spec = json.loads((lightgbm_run / "features.json").read_text())
    by_name = {e["name"]: e for e in spec["trees"]}
    assert list(by_name) == ["lightgbm", "tabular-lightgbm"]
    tabular = by_name["tabular-lightgbm"]
    assert tabular["pca"] == [] and tabular["file"] == "trees-tabular-lightgbm.txt"
    features = stack.stack_features(pd.read_parquet(embeddings), with_image_stats=True)
    assert tabular["columns"] == stack.tabular_columns(features)
    assert not [c for c in tabular["columns"] if c.startswith(("cnn_", "emb_", "m0_"))]
    assert {"cnn_prob", "cnn_logit", "emb_pc0", "emb_pc1"} <= set(by_name["lightgbm"]["columns"])
    oof = pd.read_csv(lightgbm_run / "oof_predictions.csv")
    assert oof["tabular-lightgbm_prob"].notna().all()
    assert not np.allclose(oof["tabular-lightgbm_prob"], oof["lightgbm_prob"])


def test_the_blend_is_weighted_out_of_fold_and_saved_as_measured(lightgbm_run, embeddings):
    spec = json.loads((lightgbm_run / "features.json").read_text())
    summary = json.loads((lightgbm_run / "stack_summary.json").read_text())
    weights = {c["name"]: c["weight"] for c in spec["blend"]["components"]}
    assert spec["combiner"] == "weighted_percentile" and spec["blend"]["metric"] == "pauc"
    assert list(weights) == ["cnn", "lightgbm", "tabular-lightgbm"]
    assert sum(weights.values()) == pytest.approx(1.0) and min(weights.values()) >= 0
    assert summary["stack"]["weights"] == weights
    # The saved stack applies exactly those weights to the final trees' percentiles.
    from models.second_stage.stack import percentile

    loaded = load_stack(lightgbm_run)
    df = pd.read_parquet(embeddings)
    base = stack.stack_features(df, with_image_stats=True)
    emb = df.filter(like="m0_emb_").to_numpy(np.float32)
    members = {m.name: m for m in loaded.members}
    refs = {n: m.reference for n, m in members.items()}
    refs["cnn"] = np.asarray(spec["blend"]["cnn_reference"])
    cols = {"cnn": base["cnn_prob"].to_numpy(),
            **{n: m.predict(base, [emb]) for n, m in members.items()}}
    expected = sum(weights[n] * percentile(cols[n], refs[n]) for n in weights)
    np.testing.assert_allclose(loaded.predict(base, emb), expected, atol=1e-9)
    one = [loaded.predict(base.iloc[[i]].reset_index(drop=True), emb[[i]])[0] for i in range(3)]
    np.testing.assert_allclose(one, expected[:3], atol=1e-9)


def test_every_members_embedding_gets_its_own_pca(ham_dataset, tmp_path):
    from models.bundle.io import load_bundle
    from models.second_stage.stack import check_stack_for

    bundles = [build_bundle(tmp_path / f"b{k}", size=48, seed=k, name=f"b{k}") for k in (0, 1)]
    emb_file = tmp_path / "emb.parquet"
    assert embed.main(["--bundle", str(bundles[0]), "--bundle", str(bundles[1]), "--data-dir",
                       str(ham_dataset), "--unseen", "--out", str(emb_file),
                       "--no-progress"]) == 0
    out = tmp_path / "stack"
    assert stack.main(["--embeddings", str(emb_file), "--out", str(out), *FAST]) == 0
    df, embs = stack.load_embeddings(emb_file)
    assert len(embs) == 2 and not np.allclose(embs[0], embs[1])
    entry = json.loads((out / "features.json").read_text())["trees"][0]
    assert [(p["member"], p["prefix"]) for p in entry["pca"]] == [(0, "m0_pc"), (1, "m1_pc")]
    assert {"m0_pc0", "m0_pc1", "m1_pc0", "m1_pc1"} <= set(entry["columns"])
    assert "emb_pc0" not in entry["columns"]
    loaded = load_stack(out)
    for k, projection in enumerate(loaded.members[0].projections):  # fitted on every row
        np.testing.assert_allclose(projection.mean, embs[k].mean(axis=0), rtol=1e-4, atol=1e-5)
    base = stack.stack_features(df, with_image_stats=True)
    assert np.isfinite(loaded.predict(base, embs)).all()
    with pytest.raises(TreeError, match="embeddings of 2 bundles"):
        check_stack_for(loaded, load_bundle(bundles[0]))


def test_a_schema_1_manifest_still_loads_and_scores_the_same(lightgbm_run, embeddings, tmp_path):
    import shutil

    copy = Path(shutil.copytree(lightgbm_run, tmp_path / "old"))
    spec = json.loads((copy / "features.json").read_text())
    entry = spec["trees"][0]
    pca = entry.pop("pca")[0]
    old = {**{k: v for k, v in entry.items() if k != "name"}, "pca_mean": pca["mean"],
           "pca_axes": pca["axes"]}
    (copy / "features.json").write_text(json.dumps(
        {**{k: v for k, v in spec.items() if k != "blend"}, "schema_version": 1,
         "combiner": "single", "trees": [old]}))
    df = pd.read_parquet(embeddings)
    base = stack.stack_features(df, with_image_stats=True)
    emb = df.filter(like="m0_emb_").to_numpy(np.float32)
    lightgbm = next(m for m in load_stack(lightgbm_run).members if m.name == "lightgbm")
    np.testing.assert_allclose(load_stack(copy).predict(base, emb), lightgbm.predict(base, [emb]))
