#!/usr/bin/env bash
# Same figures before and after a restructuring (issue 15): a fixed-step fast build of the dev clip (so the
# same code gives the same model), its held-out figures against the baselines, and dub speed.
#   bench/same_figures.sh TREE OUT        TREE: the source tree to measure; OUT: where results go
# Run it for two trees back to back on the same machine; compare OUT/*.json.
set -euo pipefail
TREE=$(cd "$1" && pwd); OUT=$(mkdir -p "$2" && cd "$2" && pwd)
PY=${PY:-$(dirname "$0")/../.venv/bin/python}; PY=$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")
CLIP=$TREE/../shared/data/speakers/cnn_anchor_71s.mp4
SPEECH=$TREE/../shared/data/speech/english_60s.wav
export PYTHONPATH=$TREE
cat > "$OUT/steps.toml" <<'TOML'
extends = "fast"
name = "fast-300-steps"
[train]
steps = 300
budget_minutes = 120.0
TOML
cd "$TREE"
/usr/bin/time -v -o "$OUT/build.time" "$PY" -m s2l_cli profile build "$CLIP" -o "$OUT/cnn.prof" \
    --preset "$OUT/steps.toml" --workdir "$OUT/work" --force --json > "$OUT/build.jsonl"
"$PY" bench/heldout.py "$OUT/cnn.prof" --workdir "$OUT/work" --json "$OUT/heldout.json" > "$OUT/heldout.txt"
"$PY" bench/dub.py "$OUT/cnn.prof" "$SPEECH" --no-sync --out "$OUT/dub" --json "$OUT/dub.json" > "$OUT/dub.txt"
echo "done: $OUT"
