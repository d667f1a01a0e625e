#!/usr/bin/env bash
# Every number in the README's results tables, one command per row (run from the repository root).
# Stage "build" needs ~3 min on a 2-core CPU, "default" ~2 h; "baselines" ~45 min; "eval" a few minutes.
set -euo pipefail
stage="${1:-all}"
SETS="data=[cb513,ts115,casp12,casp10,casp11]"
R=outputs/runs

if [[ $stage == build || $stage == all ]]; then
  ss-data build
fi
if [[ $stage == default || $stage == all ]]; then
  # the candidates for the bundled model (one named experiment each), then the choice on validation only
  ss-train experiment=default_model trainer.progress=false
  ss-train experiment=default_model seed=1 name=default_model_s1 trainer.progress=false
  ss-train experiment=dilated_cnn trainer.progress=false
  ss-train experiment=dilated_cnn seed=1 trainer.progress=false
  ss-train experiment=phd trainer.progress=false
  python scripts/select_ensemble.py --max-members 3 --out src/ss_predict/weights/default.pt \
    default_model=$R/default_model/best.pt default_model_s1=$R/default_model_s1/best.pt \
    dilated_cnn_s0=$R/dilated_cnn_s0/best.pt dilated_cnn_s1=$R/dilated_cnn_s1/best.pt phd_s0=$R/phd_s0/best.pt
  ss-eval checkpoint=src/ss_predict/weights/default.pt "$SETS" output=outputs/eval/default.json
  for m in default_model default_model_s1 dilated_cnn_s0 dilated_cnn_s1 phd_s0; do
    ss-eval checkpoint=$R/$m/best.pt "$SETS" output=outputs/eval/$m.json
  done
fi
if [[ $stage == classical || $stage == baselines || $stage == all ]]; then
  for m in gnb tree linear_svm rbf_svc knn; do
    ss-train model=$m name=$m trainer.threads=1
  done
fi
if [[ $stage == neural || $stage == baselines || $stage == all ]]; then
  # CPU budget: the next-step CNN for 2 epochs (PHD and the dilated CNN are trained in stage "default")
  ss-train model=nextstep_cnn name=nextstep_cnn trainer.max_epochs=2 trainer.progress=false
fi
if [[ $stage == eval || $stage == baselines || $stage == all ]]; then
  for m in gnb tree linear_svm rbf_svc knn nextstep_cnn; do
    [[ -f $R/$m/best.pt ]] && ss-eval checkpoint=$R/$m/best.pt "data=[cb513,ts115]" output=outputs/eval/$m.json
  done
  # prediction speed of every trained checkpoint, then the README table
  ck=(default=src/ss_predict/weights/default.pt)
  for m in default_model default_model_s1 dilated_cnn_s0 dilated_cnn_s1 phd_s0 nextstep_cnn gnb tree linear_svm rbf_svc knn; do
    ck+=("$m=$R/$m/best.pt")
  done
  python scripts/bench.py --threads 2 --models "" --skip-cli --checkpoints "${ck[@]}" --out outputs/bench_models.json
  python scripts/results_table.py
fi
