#!/usr/bin/env bash
# Idempotent environment setup for mmpeft (used by `make setup`, `make test`, `make demo`).
#
# - creates .venv with Python 3.11 (override with PYTHON=...)
# - keeps an existing torch in the venv, otherwise installs the CPU build torch==2.13.0
# - builds mmcv 2.1.0 from source WITH its compiled ops (--no-build-isolation) once, and caches
#   the wheel under ${MMPEFT_CACHE:-~/.cache/mmpeft}, keyed by python/torch version
# - installs requirements.txt, the test extras and mmpeft itself (editable)
# - adds the torchvision release that matches the torch in use if it imports beside it (mmpretrain
#   imports torchvision without declaring it; mmpeft does without where it does not import)
# - fails loudly if mmcv.ops lacks its compiled ops
# A stamp file makes a repeated run a no-op while requirements/setup.py are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
VENV=${VENV:-.venv}
CACHE=${MMPEFT_CACHE:-$HOME/.cache/mmpeft}
TORCH_CPU_VERSION=${TORCH_CPU_VERSION:-2.13.0}
MMCV_VERSION=2.1.0
PY="$VENV/bin/python"
STAMP="$VENV/.mmpeft-setup"

log() { printf '[setup] %s\n' "$*"; }

want_stamp=$(cat requirements.txt requirements-tests.txt setup.py tools/setup_env.sh | sha256sum | cut -c1-16)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want_stamp" ] && \
   "$PY" -c "import mmpeft, mmcv.ops" >/dev/null 2>&1; then
  log "environment up to date ($VENV)"
  exit 0
fi

if [ ! -x "$PY" ]; then
  command -v "$PYTHON" >/dev/null || { echo "[setup] ERROR: $PYTHON not found; set PYTHON=/path/to/python3.11" >&2; exit 1; }
  log "creating $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$PY" -m pip --disable-pip-version-check)

"${PIP[@]}" install -q "setuptools>=77.0.3,<81" wheel ninja psutil "numpy<2"

if "$PY" -c "import torch" >/dev/null 2>&1; then
  log "using the torch already in $VENV: $("$PY" -c 'import torch; print(torch.__version__)')"
else
  log "installing CPU torch==$TORCH_CPU_VERSION"
  "${PIP[@]}" install -q "torch==$TORCH_CPU_VERSION"
fi

TORCH_VER=$("$PY" -c 'import torch; print(torch.__version__.replace("+", "_"))')
PY_TAG=$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
WHEEL_DIR="$CACHE/mmcv-$MMCV_VERSION-torch$TORCH_VER-$PY_TAG"
mmcv_ok() { "$PY" -c "import torch; from mmcv.ops import nms, RoIAlign, nms_rotated, box_iou_rotated; nms(torch.rand(4, 4) * 8 + torch.tensor([0, 0, 9, 9.]), torch.rand(4), 0.5)" >/dev/null 2>&1; }

if ! ( "$PY" -c "import mmcv, sys; sys.exit(mmcv.__version__ != '$MMCV_VERSION')" >/dev/null 2>&1 && mmcv_ok ); then
  if ! ls "$WHEEL_DIR"/mmcv-*.whl >/dev/null 2>&1; then
    log "building mmcv $MMCV_VERSION with compiled ops (about 12 min on 2 cores); cached in $WHEEL_DIR"
    mkdir -p "$WHEEL_DIR.tmp"
    MAX_JOBS=${MAX_JOBS:-$(nproc)} MMCV_WITH_OPS=1 "${PIP[@]}" wheel --no-build-isolation --no-deps \
      -w "$WHEEL_DIR.tmp" "mmcv==$MMCV_VERSION"
    rm -rf "$WHEEL_DIR" && mv "$WHEEL_DIR.tmp" "$WHEEL_DIR"
  else
    log "using cached mmcv wheel from $WHEEL_DIR"
  fi
  "${PIP[@]}" install -q --no-deps --force-reinstall "$WHEEL_DIR"/mmcv-*.whl
fi

log "installing requirements and mmpeft"
# keep the torch chosen above: a dependency must never swap it (the mmcv ops are built against it)
"$PY" -c 'import torch; print("torch==" + torch.__version__)' > "$VENV/torch-constraint.txt"
"${PIP[@]}" install -q -c "$VENV/torch-constraint.txt" -r requirements.txt -r requirements-tests.txt
"${PIP[@]}" install -q --no-build-isolation --no-deps -e .

# torchvision, which mmpretrain imports without declaring it: the release made for the torch in use
# (torch 2.X.Y -> torchvision 0.(X+15).Y), kept only if it imports. PyPI's x86_64 Linux torchvision
# is a CUDA build that fails beside a CPU torch ("operator torchvision::nms does not exist"), and a
# torchvision that fails that way breaks `import mmdet.models` (whose mmpretrain probe catches only
# ImportError): then there is none, and mmpeft imports mmpretrain's backbones on their own.
tv_ok() { "$PY" -c "import torchvision.ops" >/dev/null 2>&1; }
TV_VERSION=$("$PY" -c 'import re, torch; m = re.match(r"2\.(\d+)\.(\d+)", torch.__version__); print(f"0.{int(m[1]) + 15}.{m[2]}" if m else "")')
if ! tv_ok && [ -n "$TV_VERSION" ]; then
  if "${PIP[@]}" install -q -c "$VENV/torch-constraint.txt" "torchvision==$TV_VERSION" >/dev/null 2>&1 && tv_ok; then
    log "installed torchvision $TV_VERSION"
  else
    "${PIP[@]}" uninstall -q -y torchvision >/dev/null 2>&1 || true
    log "torchvision $TV_VERSION does not import beside torch $("$PY" -c 'import torch; print(torch.__version__)') (PyPI has a CUDA build only): mmpretrain's backbones are used without it"
  fi
fi

if ! mmcv_ok; then
  echo "[setup] ERROR: mmcv.ops has no compiled ops (nms/RoIAlign missing). Remove $WHEEL_DIR and rerun." >&2
  "$PY" -c "from mmcv.ops import nms" || true
  exit 1
fi
"$PY" -c "import mmpeft" || { echo "[setup] ERROR: 'import mmpeft' failed" >&2; exit 1; }
echo "$want_stamp" > "$STAMP"
log "done: $("$PY" -c 'import torch, mmcv, mmdet, mmseg, mmengine; print(f"torch {torch.__version__}, mmengine {mmengine.__version__}, mmcv {mmcv.__version__}, mmdet {mmdet.__version__}, mmseg {mmseg.__version__}")')"
