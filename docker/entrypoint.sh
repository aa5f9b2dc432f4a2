#!/usr/bin/env bash
# Entry point of the deploykit images.
#   docker run IMAGE                      -> the image's default suite (CMD)
#   docker run IMAGE out/m.onnx --batch 1,8 -o /work/results   -> deploykit bench ...
#   docker run IMAGE compare r.json --baseline b.json          -> other verbs run as given
#   docker run --network host IMAGE agent --address HEAD:6379 --device NAME  -> a fleet device node
#   docker run IMAGE bash                                      -> a shell
set -euo pipefail

DEPLOYKIT="${DEPLOYKIT:-deploykit}"

case "${1:-}" in
  deploykit) shift; exec "$DEPLOYKIT" "$@" ;;
  bench|compare|export|models|calibrate|demo|agent|devices) exec "$DEPLOYKIT" "$@" ;;
  bash|sh) exec "$@" ;;
esac

# Say what the numbers will be measured on before measuring them (GPU, Jetson power mode).
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader >&2 || true
fi
if [[ -r /etc/nv_tegra_release ]]; then
  head -n 1 /etc/nv_tegra_release >&2
  if command -v nvpmodel >/dev/null 2>&1; then nvpmodel -q 2>/dev/null | head -n 1 >&2 || true; fi
fi

exec "$DEPLOYKIT" bench "$@"
