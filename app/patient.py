"""Patient view: several lesion images of one person scored together (the `/patient` endpoint).

Each lesion gets the CNN's decision probability and decision, and its unusualness among this
person's lesions ("ugly duckling"): the z-score and rank of its probability within the patient
and the distance of its image embedding from the mean embedding of the other lesions
(`models.second_stage.features.patient_features`). With a second stage, the trees score every
lesion with the
patient context they were trained with. Uploads are read once and deleted, as for `/analyze`.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pandas as pd
from PIL import Image

from app.service import user_error
from app.uploads import UploadMissingError, UploadStore
from models.inference.engine import ABOVE, Engine, InputError
from models.second_stage.embedding import embed_view
from models.second_stage.features import lesion_features, patient_features, with_patient_context
from models.second_stage.stack import Stack, view_row

MIN_IMAGES, MAX_IMAGES = 2, 20
PATIENT = "patient"
THUMBNAIL_PX = 64  # the table's thumbnails (of what the model saw), JPEG data URIs


class PatientView:
    """Scores a set of one person's lesion images (see the module docstring)."""

    def __init__(self, engine: Engine, uploads: UploadStore, stack: Stack | None = None) -> None:
        self.engine = engine
        self.uploads = uploads
        self.stack = stack

    async def analyze(self, files: Any, age: Any, sex: Any, sites: Any = None
                      ) -> tuple[dict[str, Any], str]:
        """Score every uploaded lesion image of one person.

        Args:
            files: Gradio's file payloads (dicts with "path") or paths, 2-20 images.
            age: the person's age in years, or None/"" for unknown.
            sex: male, female or unknown.
            sites: optional anatomic sites, one per image in upload order, comma-separated
                (or a list); None/"" = all unknown.

        Returns:
            (result JSON: {"lesions": [...], "second_stage": bool}, the HTML table).
        """
        files = list(files or [])
        paths = [f.get("path") if isinstance(f, dict) else f for f in files]
        try:
            if not MIN_IMAGES <= len(paths) <= MAX_IMAGES:
                raise ValueError(f"upload {MIN_IMAGES} to {MAX_IMAGES} images of the same "
                                 f"person (got {len(paths)}): the patient view compares their "
                                 "lesions")
            site_list = split_sites(sites, len(paths))
        except ValueError as err:  # refused before reading: the uploads go unread
            for p in paths:
                self.uploads.discard(p)
            raise user_error(str(err)) from None
        names = [file_name(f) for f in files]
        datas = []
        try:
            for p in paths:
                datas.append(self.uploads.take(p))
        except (UploadMissingError, PermissionError):
            for p in paths[len(datas):]:
                self.uploads.discard(p)
            raise user_error("an uploaded image is no longer on the server: upload the "
                             "images again") from None
        try:
            lesions, thumbnails = await anyio.to_thread.run_sync(self._score, datas, names,
                                                                 age, sex, site_list)
        finally:
            del datas
        result = {"lesions": lesions, "second_stage": self.stack is not None}
        return result, patient_html(result, thumbnails)

    def _score(self, datas: list[bytes], names: list[str], age: Any, sex: Any,
               sites: list[str | None]) -> tuple[list[dict[str, Any]], list[str]]:
        bundle = self.engine.bundle
        rows, embeddings, thumbnails = [], [], []
        for i, (name, data, site) in enumerate(zip(names, datas, sites, strict=True)):
            try:
                a = self.engine.analyze(data, age, sex, site, tta=True, cam=False)
            except InputError as err:
                raise user_error(f"image {i + 1} ({name}): {err}") from None
            prob, emb = embed_view(bundle, a.model_view, a.metadata)
            embeddings.append(emb)
            thumbnails.append(thumbnail_uri(a.model_view))
            rows.append({"image": i + 1, "lesion": name, "site": a.metadata["site"],
                         "decision_probability": a.decision_probability,
                         "decision": a.decision, "threshold": a.threshold,
                         "group_id": PATIENT, "group_kind": PATIENT,
                         **view_row(self.stack, prob, a.model_view, a.metadata)})
        df, emb = pd.DataFrame(rows), np.stack(embeddings)
        context = patient_features(df.assign(patient_id=PATIENT), ["decision_probability"],
                                   embedding=emb)
        out = df[["image", "lesion", "site", "decision_probability", "decision", "threshold"]].copy()
        out["unusualness_z"] = context["decision_probability_pz"]
        out["rank_in_patient"] = context["decision_probability_prank"]
        out["distance_from_other_lesions"] = context["emb_patient_dist"]
        if self.stack is not None:
            features = with_patient_context(lesion_features(df), df, emb)
            out["second_stage"] = self.stack.predict(features, emb)
        records = [{k: (None if isinstance(v, float) and np.isnan(v) else v)
                    for k, v in r.items()} for r in out.to_dict("records")]
        return records, thumbnails


def file_name(file: Any) -> str:
    """An upload's own file name (Gradio's `orig_name`, else the stored file's name)."""
    name = file.get("orig_name") if isinstance(file, dict) else None
    path = file.get("path") if isinstance(file, dict) else file
    return str(name or (Path(str(path)).name if path else "image"))


def split_sites(sites: Any, n: int) -> list[str | None]:
    """One site (or None = unknown) per image from the comma-separated text or a list.

    Raises:
        ValueError: a count other than `n` (sites are matched to images by position).
    """
    if sites is None or (isinstance(sites, str) and not sites.strip()):
        return [None] * n
    values = [s.strip() for s in (sites.split(",") if isinstance(sites, str) else sites)]
    if len(values) != n:
        raise ValueError(f"sites: {len(values)} value(s) for {n} images: give one site per "
                         "image in upload order (comma-separated; 'unknown' where not known), "
                         "or leave the field empty")
    return [v or None for v in values]


def thumbnail_uri(view: np.ndarray) -> str:
    """A small JPEG of the model's view of one lesion, as a data URI (kept in no file)."""
    picture = Image.fromarray(np.ascontiguousarray(view, dtype=np.uint8))
    picture.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def patient_html(result: dict[str, Any], thumbnails: list[str] | None = None) -> str:
    """The patient view's table, most unusual lesion first: each lesion by its file name,
    with a thumbnail of what the model saw (`thumbnails`: data URIs in upload order) and its
    site."""
    thumbnails = thumbnails or []
    lesions = sorted(result["lesions"], key=lambda r: -(r["unusualness_z"] or 0.0))
    head = ["lesion (file)", "image", "site", "melanoma probability", "decision",
            "unusualness (z within the patient)", "distance from the other lesions"]
    if result["second_stage"]:
        head.append("second stage")
    rows = []
    for r in lesions:
        name = html.escape(r["lesion"])
        k = int(r.get("image", 0)) - 1
        uri = thumbnails[k] if 0 <= k < len(thumbnails) else None
        image = (f'<img src="{uri}" alt="{name}" width="{THUMBNAIL_PX}" '
                 f'style="max-height:{THUMBNAIL_PX}px;object-fit:contain">' if uri else "")
        cells = [name, image, html.escape(str(r.get("site", ""))),
                 f"{r['decision_probability']:.3f}",
                 "<b>above</b>" if r["decision"] == ABOVE else "below",
                 _fmt(r["unusualness_z"], "+.2f"), _fmt(r["distance_from_other_lesions"], ".2f")]
        if result["second_stage"]:
            cells.append(_fmt(r.get("second_stage"), ".3f"))
        rows.append('<tr class="patient-lesion">' + "".join(f"<td>{c}</td>" for c in cells)
                    + "</tr>")
    return "".join([
        "<h3>Patient view</h3>", '<table class="patient-table"><thead><tr>',
        "".join(f"<th>{h}</th>" for h in head), "</tr></thead><tbody>", *rows,
        "</tbody></table>",
        ("<p>Unusualness compares each lesion with this person's other lesions (the 'ugly "
         "duckling' sign): a high z-score or a large feature distance means it stands out. "
         "<i>Research use only — not a diagnosis.</i></p>")])


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)

