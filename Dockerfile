# CPU-only image: the web app (default command), training and evaluation, one set of pins.
#
#   docker build -t melanoma-detect .                          # torch from PyTorch's CPU index
#   docker build --build-arg TORCH_INDEX_URL=... -t melanoma-detect .   # another CPU index/mirror
#   (offline: put torch-2.13.0+cpu-cp311-*.whl in wheels/, see wheels/README.md)
#
# Two stages: `deps` builds /opt/venv (torch first, then the pinned lock), `runtime` copies the
# venv and then the code, so a code change rebuilds only the last layers.

ARG PYTHON_IMAGE=python:3.11-slim

# --------------------------------------------------------------------------- dependencies
FROM ${PYTHON_IMAGE} AS deps

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

COPY requirements.txt /tmp/requirements.txt
RUN pip install -r /tmp/requirements.txt \
    && pip check \
    && python -c "import torch; assert not torch.version.cuda, torch.version.cuda; print('torch', torch.__version__)"

# torch's C++ unit-test binaries (~80 MB) are never run here.
RUN rm -rf "$(python -c 'import os, torch; print(os.path.dirname(torch.__file__))')/test"

# --------------------------------------------------------------------------- runtime
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

COPY --from=deps /opt/venv /opt/venv
# matplotlib's font cache, built once here rather than at the first analysis of each container.
RUN MPLCONFIGDIR=/opt/matplotlib /opt/venv/bin/python -c "import matplotlib.font_manager" \
    && chmod -R a+rwX /opt/matplotlib

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
# Code last: editing it rebuilds only from here. Owned by root, read-only for the app user.
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
# mode 0600); `find` touches only such entries, so nothing else is copied into this layer.
# The image must carry the shipped model: fail the build, not the first start, without it.
RUN find /app \( ! -perm -a+r -o \( -type d ! -perm -a+x \) \) -exec chmod a+rX {} + \
    && python -m compileall -q /app \
    && { test -f /app/models/default/bundle.json && test -f /app/models/default/model.safetensors \
         || { echo "models/default/ must hold the shipped bundle (bundle.json, model.safetensors)" >&2; \
              exit 1; }; }

USER 10001:10001
EXPOSE 7860

HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('MELANOMA_PORT', '7860'), timeout=4)"]

ENTRYPOINT ["tini", "-s", "--"]
CMD ["python", "-m", "app"]
