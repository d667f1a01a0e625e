#!/usr/bin/env bash
# Every number in the README's results tables, one command per row (run from the repository root).
# On a 2-core CPU: stage "build" ~30 min (with its audits), "default" ~50 min, "multitask" ~90 min, "cullpdb"
# ~15 min, "ablation" ~45 min, "distill" ~2.2 h (after "default"), "speed" ~5 min, "eval" ~10 min, "baselines" ~45 min.
# Re-running a stage replaces its runs and results (overwrite=true).
set -euo pipefail
stage="${1:-all}"
SETS="data=[cb513,ts115,casp12,casp10,casp11,cb513_zhou]"
R=outputs/runs
E=outputs/eval
W="overwrite=true trainer.progress=false"
score() {  # NAME CHECKPOINT: the six benchmarks to $E/NAME.json, validation to $E/NAME.valid.json
  ss-eval checkpoint=$2 "$SETS" output=$E/$1.json overwrite=true
  ss-eval checkpoint=$2 data=valid output=$E/$1.valid.json overwrite=true
}

D=${SS_DATA_ROOT:-data}
BENCH_FILES="$D/ps4_netsurfp_cb513_ts115/CB513_HHblits.csv $D/ps4_netsurfp_cb513_ts115/TS115_HHblits.csv \
  $D/lift_ss_testsets/CASP12.txt $D/dcblstm_casp10_casp11/casp10.h5 $D/dcblstm_casp10_casp11/casp11.h5 \
  $D/zhou_cullpdb_csv/cb513.npy.csv"

if [[ $stage == build || $stage == all ]]; then
  ss-data build                                   # outputs/data/train_set.jsonl.gz + manifest
  python scripts/build_table.py                   # the README's build table
  # the checks the README quotes: both exit 1 (and stop this script) if they find a homologous pair
  mkdir -p outputs/audit
  ss-data audit outputs/data/train_set.jsonl.gz $BENCH_FILES -o outputs/audit/benchmarks.tsv
  ss-data audit outputs/data/train_set.jsonl.gz:train outputs/data/train_set.jsonl.gz:valid \
    -o outputs/audit/train_valid.tsv
  # the outside reviewer's criteria with plain `mmseqs easy-search` (not the builder's code): exit 1 on any pair
  python scripts/independent_audit.py outputs/data/train_set.jsonl.gz:train \
    cb513=$D/ps4_netsurfp_cb513_ts115/CB513_HHblits.csv ts115=$D/ps4_netsurfp_cb513_ts115/TS115_HHblits.csv \
    casp12=$D/lift_ss_testsets/CASP12.txt casp10=$D/dcblstm_casp10_casp11/casp10.h5 \
    casp11=$D/dcblstm_casp10_casp11/casp11.h5 cb513_zhou=$D/zhou_cullpdb_csv/cb513.npy.csv \
    valid=outputs/data/train_set.jsonl.gz:valid -o outputs/audit/independent.tsv
fi
if [[ $stage == default || $stage == all ]]; then
  # the bundled model: one CNN+BiGRU (the default_model recipe) on the v3 build, chosen on validation
  ss-train experiment=default_model $W
  python scripts/make_ensemble.py src/ss_predict/weights/default.pt $R/default_model/best.pt
  # its temperatures, fitted on the build's validation split only (weights unchanged)
  python scripts/calibrate.py src/ss_predict/weights/default.pt --build outputs --in-place
  score default src/ss_predict/weights/default.pt
fi
if [[ $stage == multitask || $stage == all ]]; then
  # the bundled `multitask` model and the SS-only model of the same recipe it was compared with (five epochs
  # each, on the build of stage "build", whose test split holds the DSSP chains that RSA and angles are scored on)
  ss-train experiment=default_model name=default_model_5ep trainer.max_epochs=5 $W
  ss-train experiment=default_multitask $W
  python scripts/make_ensemble.py src/ss_predict/weights/multitask.pt $R/default_multitask/best.pt
  python scripts/make_ensemble.py outputs/ss_5ep.pt $R/default_model_5ep/best.pt
  for n in multitask:src/ss_predict/weights/multitask.pt ss_5ep:outputs/ss_5ep.pt; do
    python scripts/calibrate.py ${n#*:} --build outputs --in-place
    ss-eval checkpoint=${n#*:} "data=[valid,cb513,ts115,casp12,casp10,casp11,cb513_zhou,dssp_test]" \
      output=$E/${n%%:*}.json overwrite=true plots=false
  done
  # the held-out DSSP chains against the training and validation chains (0 pairs, else exit 1)
  python scripts/independent_audit.py outputs/data/train_set.jsonl.gz:train test=outputs/data/train_set.jsonl.gz:test \
    valid=outputs/data/train_set.jsonl.gz:valid -o outputs/audit/independent_test.tsv
  python scripts/bench.py --threads 2 --models "" --skip-cli --checkpoints ss=outputs/ss_5ep.pt \
    mt=src/ss_predict/weights/multitask.pt --out outputs/bench_tasks.json
  # REPROF beside it on the same chains (Debian: apt-get install reprof)
  python scripts/bench_peers.py --model src/ss_predict/weights/multitask.pt --json outputs/peers.json
fi
if [[ $stage == cullpdb || $stage == all ]]; then
  # the classic protocol: Zhou's CullPDB-6133-filtered chains (filtered again), Zhou's CB513 as the test
  ss-data build --config-name build_cullpdb
  ss-train experiment=cullpdb_cb513 $W
  ss-eval checkpoint=$R/cullpdb_cb513_onehot_s0/best.pt "$SETS" output=$E/cullpdb_cb513_onehot_s0.json overwrite=true
  ss-eval checkpoint=$R/cullpdb_cb513_onehot_s0/best.pt data=cb513_zhou +data.cb513_zhou.merge=false \
    output=$E/cullpdb_cb513_onehot_s0.rows514.json overwrite=true   # the 514 rows, 84,765 residues
fi
if [[ $stage == ablation || $stage == all ]]; then
  # new data on/off: the default recipe without the training chains of the Zhou CullPDB and CMBI DSSP pools
  ss-train experiment=default_model name=default_model_no_new_data '+data.train.exclude_sources=[zhou_cullpdb,cmbi_dssp]' $W
  ss-eval checkpoint=$R/default_model_no_new_data/best.pt "$SETS" output=$E/default_model_no_new_data.json overwrite=true
fi
if [[ $stage == distill || $stage == all ]]; then
  # plain single model (a second seed) vs ensemble vs distilled single model, all on the v3 build (README
  # "Plain single model vs ensemble vs distilled single model"); teacher 1 is the default stage's run
  ss-train experiment=default_model seed=1 name=default_model_s1 $W
  ss-train experiment=dilated_cnn $W
  python scripts/make_ensemble.py outputs/teachers_v3.pt $R/default_model/best.pt $R/dilated_cnn_s0/best.pt
  ss-train experiment=distill "teacher=[$R/default_model/best.pt,$R/dilated_cnn_s0/best.pt]" $W
  for n in default_model_s1 dilated_cnn_s0 distill_cnn_bigru_s0; do score $n $R/$n/best.pt; done
  score teachers_v3 outputs/teachers_v3.pt
  python scripts/bench.py --threads 2 --models cnn_bigru --checkpoints ensemble=outputs/teachers_v3.pt \
    distilled=$R/distill_cnn_bigru_s0/best.pt --skip-cli --out outputs/bench_distill.json
fi
if [[ $stage == classical || $stage == baselines ]]; then
  for m in gnb tree linear_svm rbf_svc knn; do
    ss-train model=$m name=$m trainer.threads=1 overwrite=true
  done
fi
if [[ $stage == neural || $stage == baselines ]]; then
  ss-train model=nextstep_cnn name=nextstep_cnn trainer.max_epochs=2 $W
  ss-train experiment=phd $W
fi
if [[ $stage == eval || $stage == baselines ]]; then
  for m in gnb tree linear_svm rbf_svc knn nextstep_cnn phd_s0; do
    [[ -f $R/$m/best.pt ]] && ss-eval checkpoint=$R/$m/best.pt "data=[cb513,ts115]" output=$E/$m.json overwrite=true
  done
fi
if [[ $stage == speed || $stage == all ]]; then
  python scripts/bench.py --threads 2 --out outputs/bench.json
  # the bundled model against the v0.1 ensemble (taken from the git history), and both end to end on CB513
  git show 91a2284^:src/ss_predict/weights/default.pt > outputs/v1_ensemble.pt
  python scripts/bench.py --threads 2 --models cnn_bigru --checkpoints v1_ensemble=outputs/v1_ensemble.pt \
    --out outputs/bench_v1.json
  python -c "from ss_predict.data.formats import read_any; import sys; sys.stdout.write(''.join(f'>{p.id.replace(\"|\", \"_\")}\n{p.sequence}\n' for p in read_any('$D/ps4_netsurfp_cb513_ts115/CB513_HHblits.csv')))" > outputs/cb513.fasta
  for m in default outputs/v1_ensemble.pt default outputs/v1_ensemble.pt; do
    /usr/bin/time -f "$m %e s" ss-predict outputs/cb513.fasta -m $m --threads 2 --quiet -o outputs/cb513.ss2
  done
fi
