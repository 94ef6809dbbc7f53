"""Keep member 0 of a training.embed Parquet file (its probability as `prob`, its embedding).

`python one_member.py IN.parquet OUT.parquet`: the single-member file the every-member stack is
compared against, from the same embedding pass (an --unseen file: every probability is
out-of-fold).
"""

import json
import sys
from pathlib import Path

import pandas as pd

src, dst = Path(sys.argv[1]), Path(sys.argv[2])
df = pd.read_parquet(src)
drop = [c for c in df.columns if c[:1] == "m" and c.split("_")[0][1:].isdigit()
        and c.split("_")[0] != "m0"]
df.drop(columns=drop).assign(prob=df["m0_prob"]).to_parquet(dst, index=False)
meta = json.loads(src.with_name(src.name + ".json").read_text())
meta["bundles"] = meta["bundles"][:1]
meta["embedding_dims"] = meta["embedding_dims"][:1]
meta["member_folds"] = meta["member_folds"][:1]
dst.with_name(dst.name + ".json").write_text(json.dumps(meta, indent=2) + "\n")
print(dst, len(df), "rows; dropped", len(drop), "columns")
