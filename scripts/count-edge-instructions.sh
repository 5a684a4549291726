#!/usr/bin/env bash
# The edge rows of scripts/bench-read.sh counted instead of timed: user-space instructions
# per keep-alive request (valgrind callgrind), for qshare's hot list and for the bare poem
# server answering it with the same status, headers and bytes. Counts do not move with the
# machine's load, which swings wrk's rates by a third here; use them to compare changes.
#
#   scripts/count-edge-instructions.sh          # both rows: the 304 and the br answer
#   N=2000 scripts/count-edge-instructions.sh   # fewer requests per count
# Needs Redis (as bench-read.sh) and valgrind (installed from Debian's packages if missing).
# Release build; all traffic goes to 127.0.0.1; each count is N requests on one connection.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-4000}
QSHARE_PORT=${QSHARE_PORT:-18381}
BARE_PORT=${BARE_PORT:-18382}
REDIS=${REDIS_URL:-redis://127.0.0.1:6379}
if ! command -v valgrind >/dev/null; then
  echo "installing valgrind from Debian packages"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null
fi
redis-cli -u "$REDIS" ping >/dev/null || { echo "Redis is not reachable at $REDIS" >&2; exit 1; }
cargo build --release --locked -q --bin qshare --bin bench_bare
target_dir=${CARGO_TARGET_DIR:-$PWD/target}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

export DATABASE_URL="sqlite://$work/qshare.db?mode=rwc" REDIS_URL="$REDIS"
export APP_CACHE__KEY_PREFIX="qshare:count:$$:" APP_SERVER__PORT=$QSHARE_PORT
export APP_DEMO__SEED_WHEN_EMPTY=false APP_LOG__LEVEL=warn
(cd "$work" && "$target_dir/release/qshare" seed-demo && "$target_dir/release/qshare" seed-demo --bulk 2000) >/dev/null

# Sends N requests for `path` with one header on one keep-alive connection; the last status.
requests() { # port path header value count
  python3 - "$@" <<'PY'
import http.client, sys
port, path, name, value, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
c = http.client.HTTPConnection("127.0.0.1", port)
for _ in range(n):
    c.request("GET", path, headers={name: value})
    r = c.getresponse()
    r.read()
print(r.status)
PY
}
# Starts `command...` under callgrind with instrumentation off until counted.
under_callgrind() { # out port command...
  local out=$1 port=$2
  shift 2
  (cd "$work" && exec valgrind --tool=callgrind --callgrind-out-file="$out" "$@") >"$work/log.$port" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 240); do
    kill -0 "${pids[-1]}" 2>/dev/null || { echo "server on $port exited: see $work/log.$port" >&2; exit 1; }
    curl -s -o /dev/null "http://127.0.0.1:$port/" && return
    sleep 0.5
  done
  echo "server on $port did not start" >&2
  exit 1
}
# Instructions per request of `port path header value`, counted over N after a warm-up.
count() { # pid out port path header value
  local pid=$1 out=$2
  shift 2
  requests "$@" 500 >/dev/null
  callgrind_control -z "$pid" >/dev/null 2>&1
  local status
  status=$(requests "$@" "$N")
  callgrind_control -d "$pid" >/dev/null 2>&1
  sleep 1
  local total
  total=$(callgrind_annotate "$(ls -t "$out".* | head -1)" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
  echo "$status $((total / N))"
}

hot=/api/articles/hot
for port in "$QSHARE_PORT" "$BARE_PORT"; do
  ! curl -s -o /dev/null "http://127.0.0.1:$port/" || { echo "port $port is taken" >&2; exit 1; }
done
under_callgrind "$work/qshare.out" "$QSHARE_PORT" "$target_dir/release/qshare"
qpid=${pids[-1]}
curl -fsS "http://127.0.0.1:$QSHARE_PORT$hot" -o "$work/hot.json"
etag=$(curl -fsS -D - -o /dev/null "http://127.0.0.1:$QSHARE_PORT$hot" | awk 'tolower($1) == "etag:" { print $2 }' | tr -d '\r')
curl -sS -H "If-None-Match: $etag" -D "$work/304.headers" -o /dev/null "http://127.0.0.1:$QSHARE_PORT$hot"
curl -sS -H 'Accept-Encoding: br, gzip' -D "$work/br.headers" -o "$work/hot.br" "http://127.0.0.1:$QSHARE_PORT$hot"
read -r q304_status q304 < <(count "$qpid" "$work/qshare.out" "$QSHARE_PORT" "$hot" If-None-Match "$etag")
read -r qbr_status qbr < <(count "$qpid" "$work/qshare.out" "$QSHARE_PORT" "$hot" Accept-Encoding 'br, gzip')
[ "$q304_status" = 304 ] && [ "$qbr_status" = 200 ] || { echo "qshare answered $q304_status and $qbr_status" >&2; exit 1; }

under_callgrind "$work/bare304.out" "$BARE_PORT" "$target_dir/release/bench_bare" "$BARE_PORT" "$work/hot.json" - "$etag" "$work/304.headers"
read -r b304_status b304 < <(count "${pids[-1]}" "$work/bare304.out" "$BARE_PORT" / If-None-Match "$etag")
kill "${pids[-1]}"
under_callgrind "$work/barebr.out" "$BARE_PORT" "$target_dir/release/bench_bare" "$BARE_PORT" "$work/hot.br" br - "$work/br.headers"
read -r bbr_status bbr < <(count "${pids[-1]}" "$work/barebr.out" "$BARE_PORT" / Accept-Encoding 'br, gzip')
[ "$b304_status" = 304 ] && [ "$bbr_status" = 200 ] || { echo "bare answered $b304_status and $bbr_status" >&2; exit 1; }

printf '%-34s %14s %14s %8s\n' "instructions per request" "qshare" "bare (same)" "ratio"
printf '%-34s %14s %14s %7.1f%%\n' "hot 304" "$q304" "$b304" "$(python3 -c "print($b304 / $q304 * 100)")"
printf '%-34s %14s %14s %7.1f%%\n' "hot br, gzip" "$qbr" "$bbr" "$(python3 -c "print($bbr / $qbr * 100)")"
echo "(ratio: the bare server's count over qshare's, as bench-read.sh's rate ratio)"
