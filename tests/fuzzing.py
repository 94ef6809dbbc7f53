"""Hypothesis strategies shared by the fuzz tests (tests/*/test_fuzz.py): CSV-like files."""

from __future__ import annotations

from hypothesis import strategies as st

KNOWN_COLUMNS = ["image_id", "image", "image_name", "image_path", "isic_id", "lesion_id",
                 "patient_id", "dx", "dx_type", "diagnosis", "target", "label", "melanoma",
                 "MEL", "NV", "UNK", "age", "age_approx", "sex", "localization",
                 "anatom_site_general", "anatom_site_general_challenge", "benign_malignant",
                 "melanoma", "seborrheic_keratosis", "attribution"]
CELL = st.one_of(
    st.text(max_size=12), st.sampled_from(["", "0", "1", "1.0", "mel", "nv", "MEL", "45",
                                           "male", "back", "ISIC_0000000", "nan", "-1",
                                           "300", "\"", "a,b", "line\nbreak", "x\r\ny"]),
    st.integers(-5, 500).map(str))


@st.composite
def csv_texts(draw: st.DrawFn) -> bytes:
    """A CSV-ish file: known and odd headers (duplicates too), random cells with quotes,
    separators and newlines, sometimes a huge field, a BOM, another separator or encoding."""
    columns = draw(st.lists(st.one_of(st.sampled_from(KNOWN_COLUMNS), st.text(max_size=8)),
                            min_size=1, max_size=8))
    sep = draw(st.sampled_from([",", ",", ";", "\t", "|"]))
    rows = draw(st.lists(st.lists(CELL, min_size=0, max_size=len(columns) + 2), max_size=6))
    if draw(st.booleans()) and rows:
        rows[0][:1] = ["x" * draw(st.sampled_from([10_000, 200_000]))]
    frame_lines = [sep.join(columns)]
    for row in rows:
        frame_lines.append(sep.join('"' + c.replace('"', '""') + '"' if (sep in c or "\n" in c)
                                    else c for c in row))
    text = draw(st.sampled_from(["\n", "\r\n"])).join(frame_lines)
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "latin-1", "utf-16"]))
    return text.encode(encoding, errors="replace")
