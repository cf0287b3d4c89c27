#!/usr/bin/env bash
# Set everything up, then run the main job on the shipped default: spot and recognise the
# micro-expressions of the sample recording (me_perception/resources/sample, a rosbag2 of a
# real face photograph animated with known micro-expressions) with the shipped model, compare
# with the ground truth, and write the results (bag, CSV, JSON, timeline plot) to out/sample.
# Extra arguments go to me_perception_offline (e.g. --backend torch).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh"
VENV="${ME_VENV:-$ROOT/.venv}"
export MPLBACKEND=Agg
exec "$VENV/bin/me_perception_offline" "$ROOT/me_perception/resources/sample" \
  --out "$ROOT/out/sample" --overwrite "$@"
