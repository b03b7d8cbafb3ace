#!/usr/bin/env bash
# One short check of the project on a CUDA machine; writes one JSON.
#
#   bash experiments/gpu_check.sh            # JSON to $OUT/gpu_check.json, else experiments/results/
#
# 1. the test suite with PLSTM_TEST_DEVICE=cuda (tests taking the `device` fixture run on CUDA:
#    every plstm_dag form against the CPU oracle, and the no-host-sync forward under
#    torch.cuda.set_sync_debug_mode("error")); the rest of the suite runs as on CPU;
# 2. experiments/bench_layer.py --device "$DEVICE" (short: 2 batches, 3 rounds, 20,000-node path);
# 3. experiments/bench_grid.py and experiments/bench_vision.py with --device "$DEVICE", where those
#    scripts accept it (recorded as skipped otherwise);
# 4. a short arrow-pointing training run on CUDA (plstm, 64 px / patch 8, 30 steps).
# Each step's exit status and the tail of its log go into the JSON; the script's own status is 0
# when every step that ran passed. GPU_CHECK_DEVICE=cpu and GPU_CHECK_TESTS=tests/ops smoke-test
# the script itself on a machine without CUDA.
set -u
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"
[ -x .venv/bin/python ] && PY="${PYTHON:-.venv/bin/python}"
DEST="${OUT:-experiments/results}"
WORK="$(mktemp -d)"
mkdir -p "$DEST"
export PLSTM_SHARED="${PLSTM_SHARED:-$(cd .. && pwd)/shared}"
DEVICE="${GPU_CHECK_DEVICE:-cuda}"
export PLSTM_TEST_DEVICE="$DEVICE"

run() {  # run NAME COMMAND...: log to $WORK/NAME.log, status to $WORK/NAME.rc
  local name="$1"; shift
  echo "== $name: $*"
  local start=$SECONDS
  "$@" > "$WORK/$name.log" 2>&1
  echo $? > "$WORK/$name.rc"
  echo $((SECONDS - start)) > "$WORK/$name.s"
  tail -n 3 "$WORK/$name.log"
}

accepts_device() { [ -f "$1" ] && "$PY" "$1" --help 2>/dev/null | grep -q -- "--device"; }

"$PY" - > "$WORK/env.json" <<'PYEOF'
import json, torch
print(json.dumps({"torch": torch.__version__, "cuda_available": torch.cuda.is_available(),
                  "device_name": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}))
PYEOF

run tests "$PY" -m pytest -q -x -p no:cacheprovider ${GPU_CHECK_TESTS:-tests}
run bench_layer "$PY" experiments/bench_layer.py --device "$DEVICE" --batches 2 --repeats 3 \
    --reference-molecules 4 --path-nodes 20000 --out "$WORK/bench_layer.json"
for bench in bench_grid bench_vision; do
  if accepts_device "experiments/$bench.py"; then
    run "$bench" "$PY" "experiments/$bench.py" --device "$DEVICE" --repeats 3 --out "$WORK/$bench.json"
  else
    echo "skipped: experiments/$bench.py missing or without --device" > "$WORK/$bench.log"
    echo skipped > "$WORK/$bench.rc"
  fi
done
run arrow_pointing "$PY" -m plstm_geometric train --task arrow-pointing --model plstm \
    --device "$DEVICE" --image-size 64 --patch-size 8 --steps 30 --batch-size 16 \
    --train-samples 512 --test-samples 128 --no-progress --out "$WORK/arrow"

"$PY" - "$WORK" "$DEST/gpu_check.json" <<'PYEOF'
import json, pathlib, sys
work, dest = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
report = {"environment": json.loads((work / "env.json").read_text()), "steps": {}}
for rc in sorted(work.glob("*.rc")):
    name = rc.stem
    log = (work / f"{name}.log").read_text(errors="replace").splitlines()
    step = {"status": rc.read_text().strip(), "log_tail": log[-15:]}
    if (work / f"{name}.s").exists():
        step["seconds"] = int((work / f"{name}.s").read_text())
    if (work / f"{name}.json").exists():
        step["result"] = json.loads((work / f"{name}.json").read_text())
    report["steps"][name] = step
arrow = sorted((work / "arrow").rglob("*.json")) if (work / "arrow").exists() else []
if arrow:
    report["steps"]["arrow_pointing"]["result"] = {str(p.relative_to(work)): json.loads(p.read_text())
                                                    for p in arrow[:4]}
dest.write_text(json.dumps(report, indent=2))
failed = [n for n, s in report["steps"].items() if s["status"] not in ("0", "skipped")]
print(f"wrote {dest}; failed steps: {failed or 'none'}")
sys.exit(1 if failed else 0)
PYEOF
