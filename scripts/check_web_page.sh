#!/usr/bin/env bash
# Drives the web page at / in headless Chromium (Debian's `chromium`): starts `denoise serve` on the
# shipped default model, opens /?autorun=1&steps=S&n=N&seed=7 (the page then POSTs /v1/generate with
# Accept: text/event-stream, fills the progress bar from the events and shows the images), waits
# for the page to finish, and checks that the DOM holds N result images with data: PNGs and the
# "done" status. Writes the DOM and a screenshot to OUT (default /tmp/denoise-web).
#   scripts/check_web_page.sh [STEPS] [N]
# Needs a built denoise (release if present, else debug) and `apt-get install chromium`.
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-10}; n=${2:-4}
out=${OUT:-/tmp/denoise-web}; mkdir -p "$out"
bin=.build/release/denoise; [ -x "$bin" ] || bin=.build/debug/denoise
[ -x "$bin" ] || { echo "build denoise first (swift build)"; exit 2; }
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || { echo "chromium is not installed (apt-get install chromium)"; exit 2; }
port=${PORT:-$((20000 + RANDOM % 20000))}

"$bin" serve --port "$port" > "$out/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
    curl -sf "http://127.0.0.1:$port/readyz" > /dev/null && break
    sleep 0.1
done
curl -sf "http://127.0.0.1:$port/readyz" > /dev/null || { echo "the server did not become ready"; cat "$out/serve.log"; exit 1; }

url="http://127.0.0.1:$port/?autorun=1&steps=$steps&n=$n&seed=7"
flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars --run-all-compositor-stages-before-draw
       --virtual-time-budget=120000 --window-size=1000,900)
"$browser" "${flags[@]}" --dump-dom "$url" > "$out/page.html" 2> "$out/chromium.log"
"$browser" "${flags[@]}" --screenshot="$out/page.png" "$url" >> "$out/chromium.log" 2>&1

images=$(grep -o '<img[^>]*>' "$out/page.html" | grep 'class="result"' | grep -c 'src="data:image/png;base64,[A-Za-z0-9+/=]\{40,\}' || true)
images=${images:-0}
if [ "$images" -ne "$n" ] || ! grep -q 'data-done="1"' "$out/page.html"; then
    echo "FAIL: the page shows $images of $n images$(grep -q 'data-done="1"' "$out/page.html" || echo ', no done event'); DOM in $out/page.html"
    grep -o '<div id="status"[^<]*<' "$out/page.html" || true
    exit 1
fi
echo "ok: $images images, done; screenshot $out/page.png"
