#!/usr/bin/env bash
# Runs inside the freshly created analysis environment: install the segmamba package (editable, from this
# checkout) without its heavy dependencies; the reporting code needs only what analysis.yaml pins.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
pip install --no-deps -e "$repo"
