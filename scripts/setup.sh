#!/usr/bin/env bash
# Installs what denoise needs to build and test on Debian 12: the C libraries it links
# (OpenBLAS, libpng and its zlib, libmicrohttpd, libprotobuf-c), protoc-c, pkg-config, and
# Fashion-MNIST (dataset-fashion-mnist: training data for the default model, read by the tests). Idempotent: it
# installs only what is missing. Works as root or through sudo. Also checks for a Swift 6
# toolchain (looked for on PATH and in /opt/swift), installing nothing there: see README.
set -euo pipefail

packages=(libopenblas-dev libpng-dev zlib1g-dev libmicrohttpd-dev libprotobuf-c-dev protobuf-c-compiler pkg-config dataset-fashion-mnist)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
        echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1
    fi
    echo "setup: installing ${missing[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

if ! command -v swift >/dev/null && [ ! -x /opt/swift/usr/bin/swift ]; then
    echo "setup: no Swift toolchain found (PATH or /opt/swift). Install Swift 6.x for Debian 12 from swift.org into /opt/swift." >&2
    exit 1
fi
