# CPU-only images, one set of pins (requirements.txt), two targets:
#
#   serve (default)  the web app, evaluate, predict, calibrate, adapt: requirements-serve.txt,
#                    the serving subset of the lock (no lightning, wandb, grad-cam/OpenCV,
#                    pyarrow or pretrained-weight packages)
#   train            everything in requirements.txt (training, embeddings, stacking too)
#
#   docker build -t melanoma-detect .                          # serve; torch from PyTorch's CPU index
#   docker build --target train -t melanoma-detect-train .     # training image
#   docker build --build-arg TORCH_INDEX_URL=... -t melanoma-detect .   # another CPU index/mirror
#   (offline: put torch-2.13.0+cpu-cp311-*.whl in wheels/, see wheels/README.md)
#
# `torch` installs torch into /opt/venv, `deps-serve`/`deps-train` add a lock, `source` holds the
# code; each target copies one venv and then the code, so a code change rebuilds only the last
# layers.

ARG PYTHON_IMAGE=python:3.11-slim

# --------------------------------------------------------------------------- dependencies
FROM ${PYTHON_IMAGE} AS torch

# PyTorch's CPU wheel index: torch + torchvision as a matching CPU pair, no CUDA libraries.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG TORCH_VERSION=2.13.0
ARG TORCHVISION_VERSION=0.28.0

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_DEFAULT_TIMEOUT=120 \
    PATH=/opt/venv/bin:$PATH

RUN python -m venv /opt/venv

# torch (and torchvision) go in BEFORE the lock: the lock pins `torch==2.13.0`, which the CPU
# build `2.13.0+cpu` satisfies, so pip never fetches PyPI's CUDA build. --no-deps: their
# dependencies come from the lock at its pinned versions. A wheel in wheels/ wins over the index
# (offline builds; the folder holds only a README otherwise).
COPY wheels/ /tmp/wheels/
RUN set -eu; \
    if ls /tmp/wheels/torch-"${TORCH_VERSION}"+cpu-*.whl >/dev/null 2>&1; then \
        echo "torch from wheels/"; \
        pip install --no-deps --no-index --find-links /tmp/wheels "torch==${TORCH_VERSION}+cpu"; \
        if ls /tmp/wheels/torchvision-"${TORCHVISION_VERSION}"+cpu-*.whl >/dev/null 2>&1; then \
            pip install --no-deps --no-index --find-links /tmp/wheels \
                "torchvision==${TORCHVISION_VERSION}+cpu"; \
        fi; \
    else \
        echo "torch and torchvision from ${TORCH_INDEX_URL}"; \
        pip install --no-deps --index-url "${TORCH_INDEX_URL}" \
            "torch==${TORCH_VERSION}" "torchvision==${TORCHVISION_VERSION}"; \
    fi; \
    rm -rf /tmp/wheels

# torch's C++ unit-test binaries (~80 MB) are never run here. (torch cannot be imported yet:
# its dependencies come with the lock below.)
RUN rm -rf /opt/venv/lib/python3*/site-packages/torch/test

# Each lock on top of the same torch layer; the build fails if torch reports CUDA.
FROM torch AS deps-serve
COPY requirements-serve.txt /tmp/requirements.txt
RUN pip install -r /tmp/requirements.txt \
    && pip check \
    && python -c "import torch; assert not torch.version.cuda, torch.version.cuda; print('torch', torch.__version__)"
# What serving never loads (sizes in BENCHMARKS.md): torch's C++ headers and its test and tool
# binaries (torch_shm_manager stays, DataLoader workers can use it); OpenVINO's GPU and NPU
# plugins and its frontends for other model formats (the engine compiles ONNX on the CPU); the
# packages' own test suites (every `tests/` folder: pandas, SymPy, SciPy, scikit-learn, NumPy,
# ONNX ...; ~170 MB, imported only by their `.test()` runners); hf-xet (11 MB, the Hugging Face
# hub's download backend, imported only to download: weights here are offline), torch's
# torchbind test library and the type stubs (*.pyi, read by type checkers only); pip;
# libtorch_cpu's symbol table (`strip --strip-unneeded` keeps what linking needs, as Debian's
# packages do; not the wheels' patchelf-ed libraries in *.libs/, which it breaks); and all
# bytecode: the serve target writes it back for the modules a real start imports. binutils
# (strip) lives in this build stage only.
# hadolint ignore=DL3008
RUN apt-get update && apt-get install -y --no-install-recommends binutils \
    && rm -rf /var/lib/apt/lists/*
RUN set -eu; sp=/opt/venv/lib/python3.11/site-packages; test -d "$sp/torch"; \
    find "$sp/torch/bin" -mindepth 1 -maxdepth 1 ! -name torch_shm_manager -exec rm -rf {} +; \
    rm -rf "$sp/torch/include" "$sp/openvino/libs/libopenvino_intel_gpu_plugin.so" \
           "$sp/openvino/libs/libopenvino_intel_npu_plugin.so"; \
    for fe in tensorflow tensorflow_lite paddle pytorch jax gguf; do \
        rm -f "$sp/openvino/libs/libopenvino_${fe}_frontend.so"*; done; \
    find "$sp" -type d -name tests -prune -exec rm -rf {} +; \
    rm -f "$sp/torch/lib/libtorchbind_test.so"; find "$sp" -name '*.pyi' -delete; \
    python -m pip uninstall -y -q hf-xet pip; \
    strip --strip-unneeded "$sp/torch/lib/libtorch_cpu.so"; \
    find /opt/venv -name __pycache__ -type d -prune -exec rm -rf {} +; \
    python -c "import torch, openvino, onnxruntime, scipy.linalg, sklearn, lightgbm, PIL.Image; \
print('stripped libraries load: torch', torch.__version__)"

FROM torch AS deps-train
COPY requirements.txt /tmp/requirements.txt
RUN pip install -r /tmp/requirements.txt \
    && pip check \
    && python -c "import torch; assert not torch.version.cuda, torch.version.cuda; print('torch', torch.__version__)"

# --------------------------------------------------------------------------- code
FROM ${PYTHON_IMAGE} AS source
WORKDIR /app
# One COPY per package (a multi-source COPY would merge their contents); models/ carries the
# shipped default bundle, models/default/.
COPY app/ /app/app/
COPY configs/ /app/configs/
COPY data/ /app/data/
COPY eval/ /app/eval/
COPY models/ /app/models/
COPY training/ /app/training/
COPY pyproject.toml /app/
# Readable by the app user whatever the modes in the build context (a bundle written with
# mode 0600). The image must carry the shipped model: fail the build, not the first start,
# without it.
RUN find /app \( ! -perm -a+r -o \( -type d ! -perm -a+x \) \) -exec chmod a+rX {} + \
    && python -m compileall -q /app \
    && { test -f /app/models/default/ensemble.json \
         || { test -f /app/models/default/bundle.json && test -f /app/models/default/model.safetensors; } \
         || { echo "models/default/ must hold the shipped bundle (bundle.json, model.safetensors) or ensemble (ensemble.json)" >&2; \
              exit 1; }; }

# --------------------------------------------------------------------------- runtime (shared)
FROM ${PYTHON_IMAGE} AS runtime
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# tini: PID 1 that forwards SIGTERM, so `docker stop` is immediate even under plain
# `docker run` (compose also sets `init: true`). libtcmalloc-minimal4: ~3x faster batched CPU
# inference and ~20% faster training steps than glibc malloc on these shapes.
# DL3008 (pin apt versions): Debian stable only ever ships security fixes for these two, and a
# pinned version disappears from the archive when the next fix lands, breaking the build.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libtcmalloc-minimal4 tini \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
    && ln -s "$(find /usr/lib -name 'libtcmalloc_minimal.so.4' | head -n 1)" \
        /usr/local/lib/libtcmalloc_minimal.so.4 \
    && test -e /usr/local/lib/libtcmalloc_minimal.so.4

# A fixed non-root user. HOME and the caches are world-writable so the image also runs under
# another uid (`user:` in compose, to own files written to a bind-mounted /outputs).
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /home/app --create-home app \
    && chmod 1777 /home/app \
    && mkdir -p /datasets /outputs \
    && chown app:app /datasets /outputs

# Every setting below is a default; compose's env_file (.env) or `docker run -e` overrides it.
# Threads: 2 intra-op threads for torch/OpenMP (a small CPU host); numpy's BLAS single-threaded
# so it does not fight torch for the same cores (CAM post-processing).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/home/app \
    MPLCONFIGDIR=/opt/matplotlib \
    GRADIO_ANALYTICS_ENABLED=False \
    OMP_NUM_THREADS=2 \
    MKL_NUM_THREADS=2 \
    OPENBLAS_NUM_THREADS=1 \
    LD_PRELOAD=/usr/local/lib/libtcmalloc_minimal.so.4 \
    MELANOMA_HOST=0.0.0.0 \
    MELANOMA_PORT=7860
WORKDIR /app
EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('MELANOMA_PORT', '7860'), timeout=4)"]
ENTRYPOINT ["tini", "-s", "--"]
CMD ["python", "-m", "app"]

# --------------------------------------------------------------------------- train target
FROM runtime AS train
COPY --from=deps-train /opt/venv /opt/venv
# matplotlib's font cache, built once here rather than at the first analysis of each container.
RUN MPLCONFIGDIR=/opt/matplotlib /opt/venv/bin/python -c "import matplotlib.font_manager" \
    && chmod -R a+rwX /opt/matplotlib
# Code last: editing it rebuilds only from here. Owned by root, read-only for the app user.
COPY --from=source /app /app
USER 10001:10001

# --------------------------------------------------------------------------- serve target (default)
FROM runtime AS serve
COPY --from=deps-serve /opt/venv /opt/venv
RUN MPLCONFIGDIR=/opt/matplotlib /opt/venv/bin/python -c "import matplotlib.font_manager" \
    && chmod -R a+rwX /opt/matplotlib
COPY --from=source /app /app
# Bytecode for what a start imports, written by doing it: the app's and the scoring commands'
# modules, and the engine built on the shipped model with every runtime (ONNX export, OpenVINO,
# ONNX Runtime). Modules nothing here imports run from source.
RUN PYTHONDONTWRITEBYTECODE='' python -c "import app.server, app.ui, eval.evaluate, eval.predict, \
eval.calibrate, eval.adapt, eval.compare, matplotlib.pyplot; \
from models.inference.ensemble_engine import load_engine; \
[load_engine('/app/models/default', backend=b) for b in ('openvino', 'onnxruntime')]" \
    && test -n "$(find /opt/venv -name '*.pyc' -print -quit)"
USER 10001:10001
