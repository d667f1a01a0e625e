#!/usr/bin/env bash
# Every number in the README's results tables, one command per row (run from the repository root).
# Stage "build" and "default" need ~1 h on a 2-core CPU; "baselines" ~45 min; "eval" a few minutes.
set -euo pipefail
stage="${1:-all}"
SETS="data=[cb513,ts115,casp12,casp10,casp11]"
R=outputs/runs

if [[ $stage == build || $stage == all ]]; then
  ss-data build
fi
if [[ $stage == default || $stage == all ]]; then
  ss-train experiment=default_model trainer.progress=false
  ss-eval checkpoint=$R/default_model/best.pt "$SETS" output=outputs/eval/default_model.json
fi
if [[ $stage == classical || $stage == baselines || $stage == all ]]; then
  for m in gnb tree linear_svm rbf_svc knn; do
    ss-train model=$m name=$m trainer.threads=1
  done
fi
if [[ $stage == neural || $stage == baselines || $stage == all ]]; then
  # CPU budget: PHD 8 epochs, the two larger CNNs 2 epochs each (a GPU run would train them to convergence)
  ss-train model=phd name=phd trainer.max_epochs=8 trainer.progress=false trainer.threads=1
  ss-train model=dilated_cnn name=dilated_cnn trainer.max_epochs=2 trainer.progress=false
  ss-train model=nextstep_cnn name=nextstep_cnn trainer.max_epochs=2 trainer.progress=false
fi
if [[ $stage == eval || $stage == baselines || $stage == all ]]; then
  for m in gnb tree linear_svm rbf_svc knn phd dilated_cnn nextstep_cnn; do
    [[ -f $R/$m/best.pt ]] && ss-eval checkpoint=$R/$m/best.pt "data=[cb513,ts115]" output=outputs/eval/$m.json
  done
  # consensus (JPred's idea): the default model averaged with the PHD and dilated CNN baselines
  ss-eval "checkpoint=[$R/default_model/best.pt,$R/dilated_cnn/best.pt,$R/phd/best.pt]" "data=[cb513,ts115]" \
    output=outputs/eval/consensus.json
  ss-eval "checkpoint=[$R/default_model/best.pt,$R/dilated_cnn/best.pt]" "data=[cb513,ts115]" \
    output=outputs/eval/consensus_default_dilated.json
  # prediction speed of every trained checkpoint, then the README table
  ck=(); for m in default_model phd dilated_cnn nextstep_cnn gnb tree linear_svm rbf_svc knn; do ck+=("$m=$R/$m/best.pt"); done
  python scripts/bench.py --threads 2 --models "" --skip-cli --checkpoints "${ck[@]}" --out outputs/bench_models.json
  python scripts/results_table.py
fi
