#!/usr/bin/env bash
# Serving on more than one process: N `denoise serve` replicas on loopback ports and nginx in front
# (deploy/nginx.conf), until Ctrl-C / SIGTERM, which drains the replicas (each finishes its running
# requests) and stops nginx. Traffic starts once every replica answers /readyz.
#
#   scripts/replicas.sh N [--port 8080] [--base-port 8081] [--run DIR] [-- SERVE_ARGS...]
#
# SERVE_ARGS go to every replica (models, --max-batch, ...; default: the shipped model). Each
# replica gets --threads $DENOISE_REPLICA_THREADS when set (on one machine, cores / N). The run
# folder (default: a new temporary one) holds nginx's config and logs and replica-I.log; its path
# and the replicas' pids are printed. Needs nginx (Debian package nginx-light or nginx) and a built
# denoise (.build/release/denoise, or $DENOISE).
set -euo pipefail
cd "$(dirname "$0")/.."
usage() { echo "usage: scripts/replicas.sh N [--port P] [--base-port P] [--run DIR] [-- SERVE_ARGS...]" >&2; exit 2; }
[ $# -ge 1 ] || usage
n=$1; shift
[[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "replicas.sh: N must be a positive integer, got '$n'" >&2; exit 2; }
port=8080; base=8081; run=""
while [ $# -gt 0 ]; do
    case "$1" in
        --port) port=$2; shift 2 ;;
        --base-port) base=$2; shift 2 ;;
        --run) run=$2; shift 2 ;;
        --) shift; break ;;
        *) usage ;;
    esac
done
denoise=${DENOISE:-.build/release/denoise}
[ -x "$denoise" ] || { echo "replicas.sh: no denoise at $denoise (swift build -c release, or set DENOISE)" >&2; exit 1; }
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { echo "replicas.sh: nginx is not installed (apt-get install nginx-light)" >&2; exit 1; }
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
run=${run:-$(mktemp -d /tmp/denoise-replicas.XXXXXX)}
mkdir -p "$run/tmp"
chmod 755 "$run"   # nginx workers (nobody, when started as root) read and write under it

pids=()
nginx_pid=""
stop() {
    trap - INT TERM EXIT
    [ -n "$nginx_pid" ] && kill -QUIT "$nginx_pid" 2>/dev/null || true
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done   # each drains, then exits
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    [ -n "$nginx_pid" ] && wait "$nginx_pid" 2>/dev/null || true
    echo "replicas.sh: stopped"
}
trap stop INT TERM EXIT

: > "$run/upstream.conf"
threads=()
[ -n "${DENOISE_REPLICA_THREADS:-}" ] && threads=(--threads "$DENOISE_REPLICA_THREADS")
for ((i = 0; i < n; i++)); do
    p=$((base + i))
    "$denoise" serve --host 127.0.0.1 --port "$p" "${threads[@]}" "$@" > "$run/replica-$i.log" 2>&1 &
    pids+=($!)
    echo "server 127.0.0.1:$p max_fails=1 fail_timeout=2s;" >> "$run/upstream.conf"
done
# Readiness gates traffic: nginx starts once every replica answers /readyz with 200.
for ((i = 0; i < n; i++)); do
    p=$((base + i))
    for _ in $(seq 1 600); do
        curl -fsS -o /dev/null "http://127.0.0.1:$p/readyz" 2>/dev/null && break
        kill -0 "${pids[$i]}" 2>/dev/null || { echo "replicas.sh: replica $i exited; its log:" >&2; cat "$run/replica-$i.log" >&2; exit 1; }
        sleep 0.1
    done
    curl -fsS -o /dev/null "http://127.0.0.1:$p/readyz" || { echo "replicas.sh: replica $i not ready after 60 s" >&2; exit 1; }
done
sed "s/@PORT@/$port/" deploy/nginx.conf > "$run/nginx.conf"
"$nginx_bin" -p "$run/" -c nginx.conf &
nginx_pid=$!
for _ in $(seq 1 50); do curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null && break; sleep 0.1; done
echo "replicas.sh: http://127.0.0.1:$port -> $n replicas on ports $base..$((base + n - 1)) (pids ${pids[*]}), nginx pid $nginx_pid, run folder $run"
wait "$nginx_pid"
