"""One interface over LightGBM, XGBoost and CatBoost: fit, predict at an iteration, save, load.

Trees are saved in each library's own text/JSON format (LightGBM text, XGBoost JSON, CatBoost
JSON), never pickled, and loaded back from that file only. A library that is not installed
gives an error naming the package to install.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

LIBRARIES = ("lightgbm", "xgboost", "catboost")
PACKAGES = {"lightgbm": "lightgbm", "xgboost": "xgboost-cpu", "catboost": "catboost"}
FILE_SUFFIXES = {"lightgbm": ".txt", "xgboost": ".json", "catboost": ".json"}


class TreeError(ValueError):
    """A tree model that cannot be fitted or loaded; the message says why."""


def _library(name: str) -> Any:
    if name not in LIBRARIES:
        raise TreeError(f"unknown tree library {name!r}; use one of {LIBRARIES}")
    try:
        return importlib.import_module(name)
    except ImportError:
        raise TreeError(f"{name} is not installed: pip install {PACKAGES[name]}") from None


@dataclass
class TreeModel:
    """A fitted binary classifier of one library.

    Attributes:
        library: "lightgbm", "xgboost" or "catboost".
        model: the library's booster.
        n_iter: boosting rounds used for prediction.
    """

    library: str
    model: Any
    n_iter: int

    @classmethod
    def fit(cls, library: str, x: np.ndarray, y: np.ndarray, *, n_estimators: int,
            learning_rate: float, seed: int, x_stop: np.ndarray | None = None,
            y_stop: np.ndarray | None = None, stop_rounds: int = 100) -> TreeModel:
        """Fit on (x, y); with a stopping set, stop when its log-loss stops improving.

        Returns:
            The model, `n_iter` = all rounds fitted (pick a better one with `predict(at=)`).
        """
        lib = _library(library)
        y = np.asarray(y, dtype=np.int64)
        stop = x_stop is not None and y_stop is not None
        if library == "lightgbm":
            params = {"objective": "binary", "learning_rate": learning_rate, "num_leaves": 15,
                      # Leaves of at least 20 rows, fewer on small tables (else no split).
                      "min_child_samples": int(np.clip(len(y) // 10, 2, 20)),
                      "subsample": 0.8, "subsample_freq": 1,
                      "colsample_bytree": 0.5, "reg_lambda": 1.0, "seed": seed,
                      "verbosity": -1, "num_threads": 0}
            train = lib.Dataset(x, y)
            valid = [lib.Dataset(x_stop, y_stop, reference=train)] if stop else []
            callbacks = [lib.early_stopping(stop_rounds, verbose=False)] if stop else []
            booster = lib.train(params, train, n_estimators, valid_sets=valid,
                                callbacks=callbacks)
            return cls(library, booster, booster.current_iteration())
        if library == "xgboost":
            model = lib.XGBClassifier(n_estimators=n_estimators, learning_rate=learning_rate,
                                      max_depth=4, subsample=0.8, colsample_bytree=0.5,
                                      reg_lambda=1.0, random_state=seed, eval_metric="logloss",
                                      early_stopping_rounds=stop_rounds if stop else None)
            model.fit(x, y, eval_set=[(x_stop, y_stop)] if stop else None, verbose=False)
            return cls(library, model.get_booster(), model.get_booster().num_boosted_rounds())
        model = lib.CatBoostClassifier(iterations=n_estimators, learning_rate=learning_rate,
                                       depth=4, random_seed=seed, verbose=False,
                                       allow_writing_files=False, thread_count=-1)
        model.fit(x, y, eval_set=(x_stop, y_stop) if stop else None,
                  early_stopping_rounds=stop_rounds if stop else None)
        return cls(library, model, model.tree_count_)

    def predict(self, x: np.ndarray, at: int | None = None) -> np.ndarray:
        """P(melanoma) per row using the first `at` rounds (default `n_iter`)."""
        k = int(at or self.n_iter)
        if self.library == "lightgbm":
            return np.asarray(self.model.predict(x, num_iteration=k), dtype=np.float64)
        if self.library == "xgboost":
            lib = _library("xgboost")
            return np.asarray(self.model.predict(lib.DMatrix(x), iteration_range=(0, k)),
                              dtype=np.float64)
        return np.asarray(self.model.predict_proba(x, ntree_end=k)[:, 1], dtype=np.float64)

    def importance(self, n_features: int) -> np.ndarray:
        """Total gain of each feature's splits (LightGBM, XGBoost) or CatBoost's prediction
        values change, in column order."""
        if self.library == "lightgbm":
            return np.asarray(self.model.feature_importance(importance_type="gain"), float)
        if self.library == "xgboost":
            gain = self.model.get_score(importance_type="total_gain")
            return np.array([gain.get(f"f{i}", 0.0) for i in range(n_features)], float)
        return np.asarray(self.model.get_feature_importance(), float)

    def save(self, folder: Path, stem: str | None = None) -> Path:
        """Write the trees in the library's own text/JSON format to ``trees-<stem>.<ext>``
        (`stem` defaults to the library); returns the file."""
        path = Path(folder) / f"trees-{stem or self.library}{FILE_SUFFIXES[self.library]}"
        if self.library == "lightgbm":
            self.model.save_model(str(path), num_iteration=self.n_iter)
        elif self.library == "xgboost":
            self.model.save_model(str(path))
        else:
            self.model.save_model(str(path), format="json")
        return path

    @classmethod
    def load(cls, library: str, path: Path, n_iter: int) -> TreeModel:
        """Load trees saved by `save` (never a pickle).

        Raises:
            TreeError: the library is missing or the file is not a model of it.
        """
        lib = _library(library)
        try:
            if library == "lightgbm":
                model: Any = lib.Booster(model_file=str(path))
            elif library == "xgboost":
                model = lib.Booster()
                model.load_model(str(path))
            else:
                model = lib.CatBoostClassifier()
                model.load_model(str(path), format="json")
        except Exception as err:  # noqa: BLE001 (each library raises its own types)
            raise TreeError(f"{path}: not a readable {library} model ({err})") from None
        return cls(library, model, n_iter)
