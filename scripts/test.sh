#!/usr/bin/env bash
# Set everything up (idempotent, see setup.sh) and run the whole test suite, lint included.
# Extra arguments go to pytest, e.g. `scripts/test.sh -k bag -x`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh"
VENV="${ME_VENV:-$ROOT/.venv}"
# Discovery stays on this machine; conftest.py picks a ROS_DOMAIN_ID of this run's own.
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export MPLBACKEND=Agg
cd "$ROOT"
exec "$VENV/bin/pytest" "$@"
