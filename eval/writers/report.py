"""Render metrics.json content as a readable Markdown report (report.md) with the plots inline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

_SUMMARY_ROWS = (("auroc", "AUROC", "auroc_ci"), ("pauc", "pAUC above {tpr:.0%} TPR (0-{max:.2f})",
                 "pauc_ci"), ("average_precision", "Average precision", None),
                 ("brier", "Brier score (lower is better)", None),
                 ("ece", "Expected calibration error (10 bins)", None))


def _num(value: Any, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _with_ci(value: Any, ci: Sequence[float] | None, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if not ci:
        return _num(value, digits)
    return f"{value:.{digits}f} [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines + [""]


def _summary_rows(m: Mapping[str, Any], pauc_key: str) -> list[tuple[str, str, str]]:
    rows = []
    for key, label, ci_key in _SUMMARY_ROWS:
        if key == "pauc":
            key, ci_key = pauc_key, f"{pauc_key}_ci"
            label = label.format(tpr=m["min_tpr"], max=1 - m["min_tpr"])
        rows.append((label, key, ci_key))
    return rows


def _operating_points(m: Mapping[str, Any]) -> list[list[Any]]:
    rows = []
    for name, t in m["thresholds"].items():
        rows.append([name, _num(t["threshold"]), _with_ci(t["sensitivity"], t["sensitivity_ci"]),
                     _with_ci(t["specificity"], t["specificity_ci"]), _num(t["precision"]),
                     _num(t["f1"]), _num(t["accuracy"]),
                     f"{t['tp']} / {t['fp']} / {t['fn']} / {t['tn']}"])
    return rows


_OP_HEADER = ("threshold name", "threshold", "sensitivity [95% CI]", "specificity [95% CI]",
              "precision", "F1", "accuracy", "TP / FP / FN / TN")


def render(metrics: Mapping[str, Any], plots: Mapping[str, str]) -> str:
    """Markdown for one evaluation.

    Args:
        metrics: the metrics.json content.
        plots: plot kind -> PNG file name next to the report.

    Returns:
        The report text.
    """
    m = metrics
    pauc_key = f"pauc{round(m['min_tpr'] * 100)}"
    lines = _intro(m) + _summary(m, pauc_key) + _operating_section(m)
    if m["tta"]:
        lines += _tta_views(m)
    if m.get("members"):
        lines += _members(m, pauc_key)
    if m.get("diagnosis"):
        lines += _diagnosis(m["diagnosis"])
    lines += _subgroups(m) + _plots(plots) + _bundles(m) + _dataset(m["dataset"]) + _speed(m)
    notes = list(m.get("notes") or [])
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    lines += ["---", "", f"Command: `{m['command']}`  ", f"Created: {m['created']}", ""]
    return "\n".join(lines)


def _intro(m: Mapping[str, Any]) -> list[str]:
    ds, tta, ens = m["dataset"], m["tta"], m.get("ensemble")
    who = (f"an ensemble of {ens['n_members']} bundles ({ens['method']})" if ens
           else f"bundle `{m['bundles'][0]['bundle_id']}`")
    fold = (f", fold {ds['fold']} of {ds['n_folds']} (seed {ds['fold_seed']})"
            if ds.get("fold") is not None else "")
    headline = (f"{who.capitalize() if ens else 'Model ' + who} scored on `{ds['path']}` "
                f"({ds['format']}{fold}): **{m['n']} images, {m['n_pos']} melanomas**"
                f" ({m['n_pos'] / m['n']:.1%}). TTA: **{'8 dihedral views' if tta else 'off'}**."
                f" Metadata: **{m['metadata']}**.")
    grouped = ", resampling whole patients/lesions" if m["grouped_bootstrap"] else ""
    intervals = (f"Intervals are {m['ci_level']:.0%} percentile bootstrap intervals over "
                 f"{m['n_boot']} resamples{grouped}.")
    lines = ["# Melanoma model evaluation", "", headline, "", intervals,
             "Research use only: not a medical device and not a diagnosis.", ""]
    if m.get("warnings"):
        lines += ["## Warnings", ""] + [f"- {w}" for w in m["warnings"]] + [""]
    return lines


def _summary(m: Mapping[str, Any], pauc_key: str) -> list[str]:
    tta = m["tta"]
    header = ["metric", "with TTA" if tta else "value"] + (["without TTA"] if tta else [])
    rows = []
    for label, key, ci_key in _summary_rows(m, pauc_key):
        row = [label, _with_ci(m[key], m.get(ci_key) if ci_key else None)]
        if tta:
            w = m["without_tta"]
            row.append(_with_ci(w[key], w.get(ci_key) if ci_key else None))
        rows.append(row)
    return ["## Summary", "", *_table(header, rows)]


def _operating_section(m: Mapping[str, Any]) -> list[str]:
    rule = (f"Decision rule: melanoma if score >= threshold. Thresholds: "
            f"{m['thresholds_rule']}; `0.5` is always shown. The app decides with "
            f"`{m['default_threshold']}`.")
    decided = [b.get("decision_rule") for b in m.get("bundles", []) if b.get("decision_rule")]
    if len(m.get("bundles", [])) == 1 and decided:
        rule += (f" The score is the bundle's decision rule: {decided[0]['score']}"
                 + (f", {decided[0]['calibration']['method']}-calibrated (ECE before the map: "
                    f"{_num(m.get('uncalibrated', {}).get('ece'), 3)})"
                    if decided[0].get("calibration") else ", uncalibrated") + ".")
    lines = ["## Operating points", "", rule, "", *_table(_OP_HEADER, _operating_points(m))]
    if m["tta"]:
        lines += ["Without TTA:", ""] + _table(_OP_HEADER, _operating_points(m["without_tta"]))
    return lines


def _tta_views(m: Mapping[str, Any]) -> list[str]:
    return ["## TTA views", "",
            "AUROC of each view alone (the TTA score averages the 8 views' probabilities):", "",
            *_table(("view", "AUROC"), [(k, _num(v, 4)) for k, v in m["per_view_auroc"].items()])]


def _members(m: Mapping[str, Any], pauc_key: str) -> list[str]:
    rows = []
    for mem in m["members"]:
        default = mem["thresholds"].get(mem.get("default_threshold", ""), None)
        rows.append([f"`{mem['bundle_id']}`", _with_ci(mem["auroc"], mem["auroc_ci"]),
                     _num(mem[pauc_key]), _num(mem["average_precision"]), _num(mem["brier"]),
                     (f"{default['sensitivity']:.3f} / {default['specificity']:.3f}"
                      if default else "n/a")])
    return ["## Ensemble members, each alone", "",
            *_table(("bundle", "AUROC [95% CI]", pauc_key, "AP", "Brier",
                     "sens / spec at its default threshold"), rows)]


def _subgroups(m: Mapping[str, Any]) -> list[str]:
    return ["## Subgroups", "",
            ("AUROC by sex, anatomic site and age band. Groups too small to score are listed "
             "with the reason instead of a number."), "",
            *_table(("by", "value", "n", "melanomas", "AUROC", "flag"),
                    [(r["column"], r["value"], r["n"], r["n_pos"], _num(r["auroc"]),
                      r["flag"] or "") for r in m["subgroups"]])]


def _plots(plots: Mapping[str, str]) -> list[str]:
    titles = {"roc": "ROC curve with operating points", "pr": "Precision-recall curve",
              "reliability": "Reliability diagram", "confusion": "Confusion matrices",
              "histogram": "Score histograms by class",
              "class_confusion": "Diagnosis confusion matrix (rows: truth, row-normalised)"}
    lines = ["## Plots", ""]
    for kind, name in plots.items():
        lines += [f"### {titles.get(kind, kind)}", "", f"![{titles.get(kind, kind)}]({name})", ""]
    return lines


def _diagnosis(d: Mapping[str, Any]) -> list[str]:
    """The differential's metrics: balanced accuracy, macro AUROC, one row per class."""
    left = ", ".join(f"{n} {why}" for why, n in d.get("left_out", {}).items() if n)
    if "not_computed" in d:
        return ["## Diagnosis (multi-class)", "", f"Not computed: {d['not_computed']}.", ""]
    lines = ["## Diagnosis (multi-class)", "",
             f"{d['n']} images scored as classes{f' (left out: {left})' if left else ''}. "
             f"Balanced accuracy (the ISIC 2018/2019 challenge metric) "
             f"{_with_ci(d['balanced_accuracy'], d.get('balanced_accuracy_ci'))}, accuracy "
             f"{_num(d['accuracy'])}, macro AUROC {_num(d['macro_auroc'])}"
             # Older metrics.json files have no macro precision/recall/F1.
             + (f", macro precision / recall / F1 {_num(d['macro_precision'])} / "
                f"{_num(d['macro_recall'])} / {_num(d['macro_f1'])}" if "macro_f1" in d else "")
             + ".", ""]
    rows = []
    for name, c in d["per_class"].items():
        if c.get("absent"):
            rows.append([name, "absent", "", "", "", "", 0])
            continue
        rows.append([name, _num(c.get("auroc")), _num(c.get("sensitivity")),
                     _num(c.get("specificity")), _num(c.get("precision")), _num(c.get("f1")),
                     c.get("support")])
    return lines + _table(["class", "AUROC (one vs rest)", "sensitivity", "specificity",
                           "precision", "F1", "support"], rows) + [""]


def _bundles(m: Mapping[str, Any]) -> list[str]:
    return ["## Bundles", "",
            *_table(("bundle", "backbone", "input", "metadata", "stored thresholds",
                     "trained on"),
                    [(f"`{b['bundle_id']}`", b["backbone"], f"{b['image_size']} px",
                      "yes" if b["uses_metadata"] else "no",
                      ", ".join(f"{k} {v:.3f}" for k, v in b["thresholds"].items()),
                      b.get("trained_on", "")) for b in m["bundles"]])]


def _dataset(ds: Mapping[str, Any]) -> list[str]:
    missing = ds["missing_metadata"]
    kinds = ", ".join(f"{k}: {v}" for k, v in ds["group_kinds"].items())
    lines = ["## Dataset", "",
             f"- Source: `{ds['source_file'] or ds['path']}` ({ds['format']})",
             (f"- Images: {ds['n_images']} ({ds['n_pos']} melanoma, {ds['n_neg']} other), "
              f"{ds['n_groups']} groups ({kinds})"),
             (f"- Not recorded: age {missing['age']}, sex {missing['sex']}, site "
              f"{missing['site']} (fed to the model as 'unknown')")]
    if ds.get("skipped"):
        lines.append("- Skipped rows: " + ", ".join(f"{k}: {v}" for k, v in ds["skipped"].items()))
    return [*lines, ""]


def _speed(m: Mapping[str, Any]) -> list[str]:
    sp = m["speed"]
    speed = (f"{sp['images']} images in {sp['seconds']:.1f} s = **{sp['images_per_s']:.1f} "
             f"images/s** ({sp['forward_images']} network inputs: views x members), "
             f"{sp.get('backend', 'eager')} backend, batch "
             f"{sp['batch_size']}, {sp['num_workers']} loader workers, {sp['torch_threads']} "
             f"torch threads, on {m['machine']['summary']}.")
    return ["## Speed", "", speed, ""]


def write_report(path: Path, metrics: Mapping[str, Any], plots: Mapping[str, str]) -> Path:
    """Write report.md (see `render`)."""
    path.write_text(render(metrics, plots), encoding="utf-8")
    return path
