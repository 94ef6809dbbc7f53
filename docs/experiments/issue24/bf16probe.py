"""Which part of a bundle loses accuracy at OpenVINO bf16? Single-view logits on ISIC 2017
(first N images) at fp32, bf16, and bf16 with chosen node types marked to keep fp32 through
rt_info (the CPU plugin's keepOriginalPrecision, openvino PR #21440). Session 10: neither key
set from Python, `precise_0` nor `disable_fp16_compression_0`, changed a single logit (a string
in rt_info is not the attribute object the plugin looks for), so this does not yet answer the
question. Usage: PYTHONPATH=. python bf16probe.py BUNDLE N"""
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
def run(precision, keep=()):
    m = core.read_model(str(tmp))
    kept = 0
    if keep:
        ops = m.get_ordered_ops()
        for op in ops:
            if op.get_type_name() in keep or any(k in op.get_friendly_name() for k in keep):
                op.get_rt_info()["precise_0"] = ""
                kept += 1
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
for keep in [(), ("MatMul", "Gemm"), ("Convolution",), ("GroupConvolution",), ("ReduceMean", "AvgPool", "GlobalAveragePool")]:
    got, kept = run("bf16", keep)
    d = np.abs(got - ref)
    print(f"bf16 keep={keep or 'none'} ({kept} ops): AUROC {roc_auc_score(y, got):.4f} (diff {roc_auc_score(y, got)-roc_auc_score(y, ref):+.4f}), |dlogit| mean {d.mean():.4f} max {d.max():.4f}")
