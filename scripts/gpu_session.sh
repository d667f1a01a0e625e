#!/usr/bin/env bash
# One command for a lent GPU (issue #17): install, CUDA tests, GPU benchmark, the named recipes trained under a
# wall-clock budget, scoring; results in $OUT. The steps themselves are in scripts/gpu_session.py.
#
# 1. On the CPU machine, from the repository root, before the first device call:
#      ss-data build                          # only if outputs/data/train_set.jsonl.gz (+ manifest) is missing
#      bash scripts/gpu_session.sh --prepare  # stages what travels, in git-ignored folders, and checks the size:
#        .whl/              the wheels of ../shared/wheels (hydra-core, omegaconf, antlr4 runtime, biopython);
#        .whl/fallback/     pytest and PyYAML wheels (pip download, pinned), installed only where the GPU
#                           machine lacks pytest or yaml (it has no package registry)
#        outputs/data/      train_set.jsonl.gz + train_set.manifest.json (data=default; TRAIN_SET_DIR=... to copy)
#        outputs/gpu_data/  the data-root files it reads (CB513/TS115 CSV, CASP12, CASP10/11 h5, BC40/PISCES
#                           chains for data=tiny), about 8 MB, at their data-root paths
# 2. The device call (tool `run`), one call:
#      command:   bash scripts/gpu_session.sh
#      carry:     [".whl", "outputs/data", "outputs/gpu_data"]
#      timeout_s: 560      (the script plans for 540 s from its own start: ~1 min install + CUDA tests,
#                           ~1.5 min bench, the rest training all recipes at once on the GPU, ~1 min scoring)
#    then give_back. Results (files_at): gpu_session.json (environment, cuda_tests, bench, runs),
#    gpu_session.log, and <recipe>.pt, the best checkpoint of each run.
# 3. Locally, the same sequence on CPU with tiny data (data=tiny trainer=tiny, trainer.max_minutes=0.01), < 5 min:
#      bash scripts/gpu_session.sh --dry-run [--out DIR]     (DIR default outputs/gpu_session)
# An OUT folder that is not empty is never written into. Extra options go to scripts/gpu_session.py
# (--recipes, --train-minutes, --parallel, --budget, --keep-work).
set -euo pipefail
START=$(date +%s)
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
DATA_FILES=(ps4_netsurfp_cb513_ts115/CB513_HHblits.csv ps4_netsurfp_cb513_ts115/TS115_HHblits.csv
            lift_ss_testsets/CASP12.txt lift_ss_testsets/PISCES_25_valid.txt shufflenet_ss_bc40/BC40_MSA_30.txt
            dcblstm_casp10_casp11/casp10.h5 dcblstm_casp10_casp11/casp11.h5)
CARRY=(.whl outputs/data outputs/gpu_data)
FALLBACK_WHEELS=(pytest==9.0.3 pluggy==1.6.0 iniconfig==2.3.0 packaging==26.2 pygments==2.20.0 pyyaml==6.0.3)

fail() { echo "error: $*" >&2; exit 2; }

mode=run
outdir=""
pass=()
while (($#)); do
  case $1 in
    --prepare) mode=prepare ;;
    --dry-run) mode=dry ;;
    --out) [[ $# -ge 2 ]] || fail "--out needs a folder"; outdir=$2; shift ;;
    --out=*) outdir=${1#*=} ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) pass+=("$1") ;;
  esac
  shift
done

if [[ $mode == prepare ]]; then
  wheels=${WHEELS:-../shared/wheels}
  data=${SS_DATA_ROOT:-../shared/data}
  ls "$wheels"/*.whl >/dev/null 2>&1 || fail "no wheels in $wheels (set WHEELS=folder)"
  mkdir -p .whl/fallback
  cp "$wheels"/*.whl .whl/
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 \
      --platform manylinux_2_17_x86_64 -d .whl/fallback "${FALLBACK_WHEELS[@]}" ||
    echo "warning: pytest/PyYAML wheels not fetched: the GPU machine's own are then needed" >&2
  for f in "${DATA_FILES[@]}"; do
    [[ -f $data/$f ]] || fail "$data/$f not found (set SS_DATA_ROOT)"
    mkdir -p "outputs/gpu_data/$(dirname "$f")"
    cp "$data/$f" "outputs/gpu_data/$f"
  done
  if [[ -n ${TRAIN_SET_DIR:-} ]]; then
    mkdir -p outputs/data
    cp "$TRAIN_SET_DIR"/train_set.jsonl.gz "$TRAIN_SET_DIR"/train_set.manifest.json outputs/data/
  fi
  for f in outputs/data/train_set.jsonl.gz outputs/data/train_set.manifest.json; do
    [[ -f $f ]] || fail "$f missing: run 'ss-data build' (or TRAIN_SET_DIR=folder bash $0 --prepare)"
  done
  tree=$(git ls-files -co --exclude-standard -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
  carried=$(du -cb "${CARRY[@]}" | tail -1 | cut -f1)
  total=$((tree + carried))
  du -sh "${CARRY[@]}"
  echo "working tree $((tree / 1048576)) MiB + carried $((carried / 1048576)) MiB = $((total / 1048576)) MiB (limit 64)"
  ((total < 64 * 1048576)) || fail "more than 64 MiB would travel"
  echo "ready: run tool command 'bash scripts/gpu_session.sh', timeout_s 560, carry [\".whl\", \"outputs/data\", \"outputs/gpu_data\"]"
  exit 0
fi

if [[ -z $outdir ]]; then
  if [[ $mode == dry ]]; then outdir=outputs/gpu_session; else outdir=${OUT:-outputs/gpu_session}; fi
fi
if [[ -e $outdir && ( ! -d $outdir || -n $(ls -A "$outdir") ) ]]; then
  fail "$outdir already holds results; give another --out or remove it"
fi

"$PY" -c 'import sys, torch; print(f"python {sys.version.split()[0]}  torch {torch.__version__}  CUDA {torch.version.cuda}  "
          f"GPU {torch.cuda.get_device_name() if torch.cuda.is_available() else None}", flush=True)'

if [[ $mode == run ]]; then
  ls .whl/*.whl >/dev/null 2>&1 || fail ".whl/ has no wheels: run 'bash scripts/gpu_session.sh --prepare' and carry it"
  [[ -f outputs/data/train_set.jsonl.gz ]] || fail "outputs/data/train_set.jsonl.gz missing: --prepare, and carry outputs/data"
  [[ -d outputs/gpu_data ]] || fail "outputs/gpu_data missing: --prepare, and carry outputs/gpu_data"
  # the carried wheels beside the machine's own torch (--no-deps: nothing else is touched)
  "$PY" -m pip install -q --no-index --no-deps --upgrade --target /tmp/site .whl/*.whl
  missing=$("$PY" -c "import importlib.util as u; print(*[m for m in ('pytest', 'yaml') if not u.find_spec(m)])")
  if [[ -n $missing ]] && ls .whl/fallback/*.whl >/dev/null 2>&1; then
    echo "the machine lacks: $missing; installing .whl/fallback"
    "$PY" -m pip install -q --no-index --no-deps --upgrade --target /tmp/site_fallback .whl/fallback/*.whl
    export PYTHONPATH=/tmp/site_fallback${PYTHONPATH:+:$PYTHONPATH}
  fi
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH} PATH=/tmp/site/bin:$PATH
  if ! "$PY" -m pip install -q --no-index --no-deps --no-build-isolation -e . >/tmp/pip-editable.log 2>&1 ||
     ! "$PY" -c "import ss_predict.configs" 2>/dev/null; then
    echo "no editable install ($(grep -m1 -i error /tmp/pip-editable.log || true)); using a copy of the package"
    rm -rf /tmp/ss_pkg && mkdir -p /tmp/ss_pkg  # the installed layout: configs/ inside the package
    cp -r src/ss_predict /tmp/ss_pkg/ && cp -r configs /tmp/ss_pkg/ss_predict/configs
    export PYTHONPATH=/tmp/ss_pkg:$PYTHONPATH
  fi
  export SS_DATA_ROOT=$PWD/outputs/gpu_data SS_OUTPUT_DIR=$PWD/outputs
  dry=()
else
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}  # tiny models on a shared CPU: one thread each is fastest
  dry=(--dry-run)
fi
exec "$PY" scripts/gpu_session.py --out "$outdir" --started "$START" "${dry[@]}" "${pass[@]}"
