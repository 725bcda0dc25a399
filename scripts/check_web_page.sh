#!/usr/bin/env bash
# Drives the web page at / in headless Chromium (Debian's `chromium`): starts `denoise serve` on the
# shipped default model, opens /?autorun=1&steps=S&n=N&seed=7 (the page then POSTs /v1/generate with
# Accept: text/event-stream, fills the progress bar from the events and shows the images), waits
# for the page to finish, and checks that it shows N decoded result images and the
# "done" status, driving Chromium over the DevTools protocol (scripts/web_page_driver.py, Python's
# standard library only). Writes a screenshot and the logs to OUT (default /tmp/denoise-web).
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
devtools=$((port + 1))
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1000,900 \
    --remote-debugging-port="$devtools" --user-data-dir="$out/profile" about:blank > "$out/chromium.log" 2>&1 &
browser_pid=$!
trap 'kill $server $browser_pid 2>/dev/null; wait $server $browser_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$devtools/json/version" > /dev/null && break; sleep 0.1; done

# The page: loads /v1/models, POSTs /v1/generate with Accept: text/event-stream, fills the progress
# bar from `progress` events and adds one <img class="result"> per `image` event.
if ! state=$(python3 scripts/web_page_driver.py "$devtools" "$url" "$out/page.png" 120); then
    echo "FAIL: the page did not finish: $state (screenshot $out/page.png, server log $out/serve.log)"
    exit 1
fi
images=$(printf '%s' "$state" | python3 -c 'import json,sys; print(json.load(sys.stdin)["images"])')
if [ "$images" -ne "$n" ]; then
    echo "FAIL: the page shows $images of $n images: $state"
    exit 1
fi
echo "ok: $state"
echo "screenshot: $out/page.png"
