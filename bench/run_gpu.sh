#!/usr/bin/env bash
# GPU rows of the benchmarks (astrotorch only), as run on the lent H100 for BENCHMARKS.md.
# Usage: bench/run_gpu.sh OUTDIR [group]   group: mc | spectra | images | lightcurves | vs_astronn | all
# Each step's full output goes to OUTDIR/<step>.log; T (seconds, default 240) caps each step.
set -u
out=${1:-gpu_results}
group=${2:-all}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg
step() {
  local name=$1; shift
  echo "== $name: $*"
  timeout "${T:-240}" "$@" > "$out/$name.log" 2>&1
  echo "rc=$?"
  tail -n 14 "$out/$name.log"
}
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"
case $group in mc|all)
  step mc_fp32 python3 -m bench.gpu_mc_throughput
  step mc_bf16 python3 -m bench.gpu_mc_throughput --bf16 ;;
esac
case $group in spectra|all)
  step spectra_fp32 python3 bench/spectra_throughput.py --device cuda
  step spectra_bf16 python3 bench/spectra_throughput.py --device cuda --bf16 ;;
esac
case $group in images|all)
  step images_fp32 python3 bench/images_throughput.py --device cuda
  step images_bf16 python3 bench/images_throughput.py --device cuda --bf16 ;;
esac
case $group in lightcurves|all)
  step lightcurves python3 bench/lightcurves_speed.py --n 2000 --device cuda --threads 8 ;;
esac
case $group in vs_astronn|all)
  step vs_astronn python3 -m bench.vs_astronn --device cuda --astrotorch-only --no-build-peer --repeats 1 ;;
esac
