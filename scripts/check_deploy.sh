#!/usr/bin/env bash
# Validates deploy/ offline: the Kubernetes manifests against the API schemas (kubernetes-validate
# --strict, from PyPI: unknown or misspelled fields are errors) and nginx's configuration (nginx -t
# on the file scripts/replicas.sh would run). Uses $PYTHON (default: python3) for the validator.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-python3}
"$py" -m kubernetes_validate --version >/dev/null 2>&1 || { echo "check_deploy: pip install kubernetes-validate" >&2; exit 1; }
"$py" -m kubernetes_validate --strict --quiet deploy/kubernetes/*.yaml
echo "check_deploy: deploy/kubernetes/*.yaml valid"
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx_bin" ] || { echo "check_deploy: nginx is not installed (apt-get install nginx-light)" >&2; exit 1; }
run=$(mktemp -d); trap 'rm -rf "$run"' EXIT
mkdir -p "$run/tmp"
sed "s/@PORT@/8080/" deploy/nginx.conf > "$run/nginx.conf"
echo "server 127.0.0.1:8081;" > "$run/upstream.conf"
"$nginx_bin" -t -q -p "$run/" -c nginx.conf
echo "check_deploy: deploy/nginx.conf valid"
