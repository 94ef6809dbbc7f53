"""HAM10000 fold 0 (5 folds, seed 42, stratified by target) as its own ham10000-format folder."""
from pathlib import Path
import pandas as pd
from data.multisource import DatasetSpec
from eval.pipeline.inputs import select_fold
D = Path("/work/shared/data/ham10000")
df = DatasetSpec(D).read("fail")
part = select_fold(df, 0, 5, 42, stratify_by="target")
meta = pd.read_csv(D / "HAM10000_metadata.csv")
keys = set(part["image_id"].astype(str))
print(part.columns.tolist()[:12], part["image_id"].head(2).tolist())
sub = meta[meta["image_id"].isin(keys)]
out = Path("/work/runs/sel/ham_f0"); sub.to_csv(out / "HAM10000_metadata.csv", index=False)
(out / "images").unlink(missing_ok=True); (out / "images").symlink_to(D / "images")
print(len(part), len(sub), int(part["target"].sum()))
