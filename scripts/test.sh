#!/usr/bin/env bash
# Set everything up (idempotent, see setup.sh) and run the whole test suite, lint included.
# Extra arguments go to pytest, e.g. `scripts/test.sh -k bag -x`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh"
# A real browser for the HTML report tests (Debian's chromium, headless). Installed here, not
# by setup.sh, because only the tests need it; skip with ME_NO_BROWSER_INSTALL=1.
if [[ -z "${ME_NO_BROWSER_INSTALL:-}" ]] && ! command -v chromium >/dev/null &&
  command -v apt-get >/dev/null; then
  echo "[test] installing chromium for the HTML report tests (once, about a minute)" >&2
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq &&
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
      --no-install-recommends chromium >/dev/null ||
    echo "[test] warning: chromium could not be installed; the browser tests will fail" >&2
fi
VENV="${ME_VENV:-$ROOT/.venv}"
# Discovery stays on this machine; conftest.py picks a ROS_DOMAIN_ID of this run's own.
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export MPLBACKEND=Agg
cd "$ROOT"
exec "$VENV/bin/pytest" "$@"
