#!/usr/bin/env bash
# check_image.sh [ROOT]: checks deploy/Dockerfile's run stage on a machine without Docker.
# Builds denoise as the build stage does (release, --static-swift-stdlib), installs it with the
# default model into a Debian bookworm root made by debootstrap holding only the run stage's
# packages (RUNTIME_PACKAGES, read from the Dockerfile), then in that root (chroot): checks that
# every shared library the binary needs resolves, starts the server as the image's user would,
# waits for /readyz, and fetches one PNG. Needs root and deb.debian.org; ROOT (default
# .build-image/root) is made once and reused.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
root=${1:-.build-image/root}
packages=$(sed -n 's/^ARG RUNTIME_PACKAGES="\(.*\)"$/\1/p' deploy/Dockerfile)
[ -n "$packages" ] || { echo "check_image.sh: no RUNTIME_PACKAGES in deploy/Dockerfile" >&2; exit 2; }

if [ ! -x "$root/usr/bin/apt-get" ]; then
    command -v debootstrap > /dev/null || apt-get install -y -qq debootstrap > /dev/null
    echo "== debootstrap bookworm (minbase) with: $packages" >&2
    debootstrap --variant=minbase --include="${packages// /,}" bookworm "$root" http://deb.debian.org/debian > /dev/null
fi

echo "== building denoise (release, static Swift runtime)" >&2
swift build -c release --product denoise --static-swift-stdlib --build-path .build-static 2>&1 | grep -E "error|Compiling denoise|complete" || true
install -D .build-static/release/denoise "$root/usr/local/bin/denoise"
rm -rf "$root/usr/local/share/denoise/models/fashion-mnist"
mkdir -p "$root/usr/local/share/denoise/models"
cp -r models/fashion-mnist "$root/usr/local/share/denoise/models/"

echo "== shared libraries in the run-stage root" >&2
libs=$(chroot "$root" ldd /usr/local/bin/denoise)
echo "$libs"
if grep -q "not found" <<< "$libs"; then echo "check_image.sh: unresolved libraries" >&2; exit 1; fi
if grep -q "libswift\|libFoundation" <<< "$libs"; then echo "check_image.sh: the Swift runtime is not linked in" >&2; exit 1; fi

mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
chroot --userspec=nobody:nogroup "$root" /usr/local/bin/denoise serve --port "$port" > "$root/tmp/serve.log" 2>&1 &
server=$!
cleanup() { kill "$server" 2> /dev/null || true; wait "$server" 2> /dev/null || true; umount "$root/proc" 2> /dev/null || true; }
trap cleanup EXIT
for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$port/readyz" > /dev/null 2>&1 && break
    kill -0 "$server" 2> /dev/null || { cat "$root/tmp/serve.log" >&2; echo "check_image.sh: the server exited" >&2; exit 1; }
    sleep 0.2
done
out=$(mktemp)
curl -fsS -o "$out" "http://127.0.0.1:$port/generate?steps=20&seed=1"
magic=$(head -c 8 "$out" | od -An -tx1 | tr -d ' \n')
bytes=$(stat -c %s "$out")
rm -f "$out"
[ "$magic" = 89504e470d0a1a0a ] || { echo "check_image.sh: /generate did not answer a PNG" >&2; exit 1; }
echo "== ok: the run stage serves (a $bytes-byte PNG from /generate), binary $(stat -c %s "$root/usr/local/bin/denoise") bytes" >&2
