"""Which part of a bundle loses accuracy at OpenVINO bf16? Single-view logits on ISIC 2017
(first N images) at fp32, bf16, and bf16 with chosen layer types marked to keep their precision
(`<rt_info><attribute name="precise" version="0"/></rt_info>` added to those layers in the saved
IR, the typed DisableFP16Compression attribute the CPU plugin honours, openvino PR #21440).
Session 10 on the soup candidate (600 images): bf16 AUROC -0.0002, mean |dlogit| 0.025; the 3
MatMul layers (the metadata MLP and the classifier) marked: identical logits (not where bf16
loses, or the mark is ignored there); Convolution marked: OpenVINO 2026.4 fails at inference ("Convolution node ... is not initialized").
The 16 depthwise GroupConvolutions marked: logits change (so the mark is honoured there), mean
|dlogit| 0.025 -> 0.024, AUROC +0.0011: not where the error comes from either.
Usage: PYTHONPATH=. python bf16probe.py BUNDLE N [TYPE[,TYPE...] ...]  ("" = plain bf16)"""
import sys, tempfile
from pathlib import Path
import numpy as np, pandas as pd, torch
import openvino as ov
from sklearn.metrics import roc_auc_score
from models.bundle.io import load_bundle
from models.inference.backends import LayerTap, export_onnx
B, N = sys.argv[1], int(sys.argv[2])
b = load_bundle(B)
D = Path("/work/shared/data/isic2017_train")
gt = pd.read_csv(D / "ISIC-2017_Training_Part3_GroundTruth.csv").head(N)
md = pd.read_csv(D / "ISIC-2017_Training_Data_metadata.csv").set_index("image_id")
pre = b.preprocessing
x = np.stack([pre(D / "ISIC-2017_Training_Data" / f"{i}.jpg") for i in gt.image_id]).astype(np.float32)
meta = np.stack([b.encode_metadata(None if pd.isna(md.loc[i, "age_approximate"]) or md.loc[i, "age_approximate"] == "unknown" else float(md.loc[i, "age_approximate"]),
                                   {"male": "male", "female": "female"}.get(str(md.loc[i, "sex"]), "unknown"), "unknown") for i in gt.image_id]).astype(np.float32)
y = gt.melanoma.to_numpy()
tap = LayerTap(b.model, []).eval()
onnx = export_onnx(tap, pre.size, b.config.meta_dim)
core = ov.Core()
tmp = Path(tempfile.mkdtemp()) / "m.onnx"; tmp.write_bytes(onnx)
import re
xml = Path(tempfile.mkdtemp()) / "m.xml"
ov.save_model(core.read_model(str(tmp)), str(xml), compress_to_fp16=False)
XML = xml.read_text()
def run(precision, keep=()):
    kept = 0
    text = XML
    if keep:
        def mark(m):
            nonlocal kept
            if m.group(2) in keep:
                kept += 1
                return m.group(0) + '\n\t\t\t<rt_info>\n\t\t\t\t<attribute name="precise" version="0" />\n\t\t\t</rt_info>'
            return m.group(0)
        text = re.sub(r'(<layer id="\d+" name="[^"]*" type="([A-Za-z]+)" version="[^"]*">)', mark, text)
    path = xml.with_name(f"k{len(keep)}-{kept}.xml"); path.write_text(text)
    import shutil; shutil.copy(xml.with_suffix(".bin"), path.with_suffix(".bin"))
    m = core.read_model(str(path))
    c = core.compile_model(m, "CPU", {"INFERENCE_PRECISION_HINT": precision, "INFERENCE_NUM_THREADS": 2})
    out = []
    for s in range(0, len(x), 16):
        r = c.create_infer_request().infer({"image": x[s:s+16], "meta": meta[s:s+16]})
        out.append(np.array(r[c.output("logits")]).reshape(-1))
    return np.concatenate(out), kept
ref, _ = run("f32")
print("fp32 AUROC %.4f" % roc_auc_score(y, ref))
types = sorted({op.get_type_name() for op in core.read_model(str(tmp)).get_ordered_ops()})
print("op types:", types)
for keep in [tuple(k.split(",")) if k else () for k in (sys.argv[3:] or [""])]:
    got, kept = run("bf16", keep)
    d = np.abs(got - ref)
    print(f"bf16 keep={keep or 'none'} ({kept} ops): AUROC {roc_auc_score(y, got):.4f} (diff {roc_auc_score(y, got)-roc_auc_score(y, ref):+.4f}), |dlogit| mean {d.mean():.4f} max {d.max():.4f}")
