"""Dataset readers: every supported dataset layout becomes ONE canonical table.

Each reader validates its input and returns a :class:`pandas.DataFrame` with exactly the
columns in :data:`CANONICAL_COLUMNS`:

==============  ============================================================================
``image_id``    str, the image's id as the dataset names it
``image_path``  str, absolute path of an existing image file
``target``      int, 1 = melanoma, 0 = anything else
``age``         float, years; NaN when not recorded (never 0 for missing)
``sex``         ``"male"`` / ``"female"`` / ``"unknown"``
``site``        canonical anatomic site (:data:`data.sites.SITES`), ``"unknown"`` if missing
``group_id``    str, the unit that must not be split across folds (patient, else lesion,
                else the image itself)
``group_kind``  ``"patient"`` / ``"lesion"`` / ``"image"``: what ``group_id`` is, per row
``diagnosis``   canonical diagnosis (:data:`data.diagnoses.DIAGNOSES`: ``"MEL"``, ``"NV"``...),
                ``"unknown"`` if not recorded; ``diagnosis == "MEL"`` exactly where
                ``target == 1``
``source``      str, the collection the image comes from (:mod:`data.sources`: ``HAM10000``,
                ``BCN``, ``MSK``, ``ISIC_archive``, ``ISIC2017``), else the format name;
                ``df.attrs["format"]`` always names the format
==============  ============================================================================

Supported formats (:data:`FORMATS`): ``ham10000``, ``isic2017``, ``isic2018``, ``isic2019``,
``isic2019_labels`` (one integer class-index column; read only when named, never
auto-detected), ``isic2020``, ``isic2024`` (metadata CSV + images inside an HDF5 file) and a
generic ``csv`` (see :func:`read_generic_csv` for its columns).

Problems in a row (unknown label, bad age, unmapped site or diagnosis, a diagnosis that
contradicts the label, missing image file...) are collected for the whole file. With
``on_error="fail"`` one single-line :class:`DatasetError` reports the first few with file,
line and column plus the total count; with ``on_error="skip"`` the bad rows are dropped and a
count per reason is logged (and stored in ``df.attrs["skipped"]``). A bad row is never
replaced by another sample. Structural problems (missing file, missing required column, empty
table, a generic label column holding class indices) always raise.

Line numbers are those of the CSV file as seen in an editor (the header is line 1).

Package layout:

* :mod:`~data.readers.base`: canonical columns, errors, CSV reading, the bad-row policy.
* :mod:`~data.readers.fields`: parsing of labels, age/sex/site, image lookup, groups,
  metadata joins.
* :mod:`~data.readers.locate`: :class:`~data.readers.locate.FormatSpec` and the generic
  format detection and file search built on it.
* one module per format (:mod:`~data.readers.ham10000`, ``isic2017``, ``isic2018``,
  ``isic2019``, ``isic2019_labels``, ``isic2020``, ``isic2024``, ``generic_csv``): its
  constants, spec and
  ``read_<fmt>``.
* :mod:`~data.readers.registry`: format name -> (spec, reader), in detection priority order;
  :data:`FORMATS`, :func:`detect_format` and :func:`read_dataset` derive from it. A new
  format is one new module plus one registry line.
* :mod:`~data.readers.verify`: :func:`verify_images`, the optional deep image check.
"""

from data.readers.base import (
    CANONICAL_COLUMNS,
    GROUP_KINDS,
    IMAGE_EXTENSIONS,
    ON_ERROR_CHOICES,
    REASON_AGE,
    REASON_DIAGNOSIS,
    REASON_DUPLICATE,
    REASON_IMAGE,
    REASON_IMAGE_ID,
    REASON_LABEL,
    REASON_SEX,
    REASON_SITE,
    REASON_UNREADABLE,
    DatasetError,
    OnError,
    Problem,
)
from data.readers.generic_csv import read_generic_csv
from data.readers.ham10000 import read_ham10000
from data.readers.isic2017 import read_isic2017
from data.readers.isic2018 import read_isic2018
from data.readers.isic2019 import read_isic2019
from data.readers.isic2019_labels import read_isic2019_labels
from data.readers.isic2020 import read_isic2020
from data.readers.isic2024 import read_isic2024
from data.readers.locate import FormatSpec
from data.readers.registry import FORMATS, REGISTRY, detect_format, read_dataset
from data.readers.verify import verify_images

__all__ = [
    "CANONICAL_COLUMNS",
    "FORMATS",
    "GROUP_KINDS",
    "IMAGE_EXTENSIONS",
    "ON_ERROR_CHOICES",
    "REASON_AGE",
    "REASON_DIAGNOSIS",
    "REASON_DUPLICATE",
    "REASON_IMAGE",
    "REASON_IMAGE_ID",
    "REASON_LABEL",
    "REASON_SEX",
    "REASON_SITE",
    "REASON_UNREADABLE",
    "REGISTRY",
    "DatasetError",
    "FormatSpec",
    "OnError",
    "Problem",
    "detect_format",
    "read_dataset",
    "read_generic_csv",
    "read_ham10000",
    "read_isic2017",
    "read_isic2018",
    "read_isic2019",
    "read_isic2019_labels",
    "read_isic2020",
    "read_isic2024",
    "verify_images",
]
