"""Patient view: several lesion images of one person scored together (the `/patient` endpoint).

Each lesion gets the CNN's decision probability and decision, and its unusualness among this
person's lesions ("ugly duckling"): the z-score and rank of its probability within the patient
and the distance of its image embedding from the mean embedding of the other lesions
(`models.tabular.patient_features`). With a second stage, the trees score every lesion with the
patient context they were trained with. Uploads are read once and deleted, as for `/analyze`.
"""

from __future__ import annotations

import html
from typing import Any

import anyio
import numpy as np
import pandas as pd

from app.service import user_error
from app.uploads import UploadMissingError, UploadStore
from models.embedding import embed_view
from models.engine import ABOVE, Engine, InputError
from models.stack_bundle import Stack, view_row
from models.tabular import base_features, patient_features, with_patient_context

MIN_IMAGES, MAX_IMAGES = 2, 20
PATIENT = "patient"


class PatientView:
    """Scores a set of one person's lesion images (see the module docstring)."""

    def __init__(self, engine: Engine, uploads: UploadStore, stack: Stack | None = None) -> None:
        self.engine = engine
        self.uploads = uploads
        self.stack = stack

    async def analyze(self, files: Any, age: Any, sex: Any) -> tuple[dict[str, Any], str]:
        """Score every uploaded lesion image of one person.

        Args:
            files: Gradio's file payloads (dicts with "path") or paths, 2-20 images.
            age: the person's age in years, or None/"" for unknown.
            sex: male, female or unknown.

        Returns:
            (result JSON: {"lesions": [...], "second_stage": bool}, a Markdown table).
        """
        paths = [f.get("path") if isinstance(f, dict) else f for f in (files or [])]
        if not MIN_IMAGES <= len(paths) <= MAX_IMAGES:
            raise user_error(f"upload {MIN_IMAGES} to {MAX_IMAGES} images of the same person "
                             f"(got {len(paths)}): the patient view compares their lesions")
        datas = []
        try:
            for p in paths:
                datas.append(self.uploads.take(p))
        except (UploadMissingError, PermissionError):
            for p in paths[len(datas):]:
                self.uploads.discard(p)
            raise user_error("an uploaded image is no longer on the server: upload the "
                             "images again") from None
        names = [f"lesion {i + 1}" for i in range(len(paths))]
        try:
            lesions = await anyio.to_thread.run_sync(self._score, datas, names, age, sex)
        finally:
            del datas
        result = {"lesions": lesions, "second_stage": self.stack is not None}
        return result, patient_markdown(result)

    def _score(self, datas: list[bytes], names: list[str], age: Any,
               sex: Any) -> list[dict[str, Any]]:
        bundle = self.engine.bundle
        rows, embeddings = [], []
        for name, data in zip(names, datas, strict=True):
            try:
                a = self.engine.analyze(data, age, sex, None, tta=True, cam=False)
            except InputError as err:
                raise user_error(f"{name}: {err}") from None
            prob, emb = embed_view(bundle, a.model_view, a.metadata)
            embeddings.append(emb)
            rows.append({"lesion": name, "decision_probability": a.decision_probability,
                         "decision": a.decision, "threshold": a.threshold,
                         "group_id": PATIENT, "group_kind": PATIENT,
                         **view_row(self.stack, prob, a.model_view, a.metadata)})
        df, emb = pd.DataFrame(rows), np.stack(embeddings)
        context = patient_features(df.assign(patient_id=PATIENT), ["decision_probability"],
                                   embedding=emb)
        out = df[["lesion", "decision_probability", "decision", "threshold"]].copy()
        out["unusualness_z"] = context["decision_probability_pz"]
        out["rank_in_patient"] = context["decision_probability_prank"]
        out["distance_from_other_lesions"] = context["emb_patient_dist"]
        if self.stack is not None:
            features = with_patient_context(base_features(df), df)
            out["second_stage"] = self.stack.predict(features, emb)
        return [{k: (None if isinstance(v, float) and np.isnan(v) else v)
                 for k, v in r.items()} for r in out.to_dict("records")]


def patient_markdown(result: dict[str, Any]) -> str:
    """The patient view's table, most unusual lesion first."""
    lesions = sorted(result["lesions"], key=lambda r: -(r["unusualness_z"] or 0.0))
    head = ("| lesion | melanoma probability | decision | unusualness (z within the patient) | "
            "distance from the other lesions |" + (" second stage |" if result["second_stage"]
                                                   else ""))
    lines = [head, "|---" * (5 + result["second_stage"]) + "|"]
    for r in lesions:
        cells = [html.escape(r["lesion"]), f"{r['decision_probability']:.3f}",
                 "**above**" if r["decision"] == ABOVE else "below",
                 _fmt(r["unusualness_z"], "+.2f"), _fmt(r["distance_from_other_lesions"], ".2f")]
        if result["second_stage"]:
            cells.append(_fmt(r.get("second_stage"), ".3f"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join([
        "### Patient view", "", *lines, "",
        ("Unusualness compares each lesion with this person's other lesions (the 'ugly "
         "duckling' sign): a high z-score or a large feature distance means it stands out. "
         "*Research use only — not a diagnosis.*")])


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)

