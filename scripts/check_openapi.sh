#!/bin/sh
# Validates docs/openapi.yaml against the OpenAPI 3.0 schema with openapi-spec-validator (Python;
# kept out of `swift test`). Uses $VENV (default /work/venv) when it has the validator, else the
# one on PATH. Install: python3 -m venv /work/venv && /work/venv/bin/pip install openapi-spec-validator
set -eu
cd "$(dirname "$0")/.."
VENV="${VENV:-/work/venv}"
if [ -x "$VENV/bin/openapi-spec-validator" ]; then
    validator="$VENV/bin/openapi-spec-validator"
elif command -v openapi-spec-validator >/dev/null 2>&1; then
    validator=openapi-spec-validator
else
    echo "check_openapi.sh: openapi-spec-validator not found (pip install openapi-spec-validator into $VENV)" >&2
    exit 2
fi
"$validator" --schema 3.0 docs/openapi.yaml
