#!/usr/bin/env bash
# Read-path benchmark (DESIGN.md §9): qshare with Redis and 10,000 seeded articles against a
# bare poem server returning the same bytes as GET /api/articles/hot, same load for both
# (wrk, 64 connections). Prints requests/s, p99 and the ratio to the bare server.
# Then the edge rows: a 304 revalidation of the hot list against a bare poem server
# answering the same 304, and the hot list with `Accept-Encoding: br, gzip` against a bare
# poem server returning the same compressed bytes, with the bytes each saves per fetch.
#
#   scripts/bench-read.sh                 # SQLite file + local Redis
#   DURATION=20 scripts/bench-read.sh     # longer runs
#   ROUNDS=5 DURATION=5 scripts/bench-read.sh   # more alternating rounds of the edge rows
# Release build; all traffic goes to 127.0.0.1; every run is bounded by DURATION.
# Each server runs on CPU 0 and wrk (one thread) on CPU 1, so that the load generator never
# takes the measured server's core: unpinned, the rates of one pair of runs swung by a third.
# PIN=0 runs them unpinned (two wrk threads), as before.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=64
if [ "${PIN:-1}" = 1 ] && [ "$(nproc)" -ge 2 ]; then
  on_server_cpu=(taskset -c 0) on_client_cpu=(taskset -c 1) wrk_threads=1
else
  on_server_cpu=() on_client_cpu=() wrk_threads=2
fi
QSHARE_PORT=${QSHARE_PORT:-18281}
BARE_PORT=${BARE_PORT:-18282}
REDIS=${REDIS_URL:-redis://127.0.0.1:6379}

if ! command -v wrk >/dev/null; then
  echo "installing wrk from Debian packages"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
redis-cli -u "$REDIS" ping >/dev/null || { echo "Redis is not reachable at $REDIS" >&2; exit 1; }

cargo build --release --locked -q --bin qshare --bin bench_bare
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

export DATABASE_URL="sqlite://$work/qshare.db?mode=rwc"
export REDIS_URL="$REDIS"
export APP_CACHE__KEY_PREFIX="qshare:bench:$$:"
export APP_SERVER__PORT=$QSHARE_PORT APP_DEMO__SEED_WHEN_EMPTY=false
# Access logs off, as the bare server has none (errors are still logged).
export APP_LOG__LEVEL=warn
target_dir=${CARGO_TARGET_DIR:-$PWD/target}
bin=$target_dir/release/qshare
(cd "$work" && "$bin" seed-demo && "$bin" seed-demo --bulk 10000) >/dev/null
(cd "$work" && exec "${on_server_cpu[@]}" "$bin") >"$work/qshare.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do curl -fsS "http://127.0.0.1:$QSHARE_PORT/readyz" >/dev/null 2>&1 && break; sleep 0.2; done

curl -fsS "http://127.0.0.1:$QSHARE_PORT/api/articles/hot" -o "$work/hot.json"
article_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["items"][0]["id"])' "$work/hot.json")
"${on_server_cpu[@]}" "$target_dir/release/bench_bare" "$BARE_PORT" "$work/hot.json" &
pids+=($!)
sleep 0.5

# wrk output -> "requests_per_sec p99_ms"; extra arguments are wrk's (headers).
measure() {
  local url=$1
  shift
  "${on_client_cpu[@]}" wrk -t$wrk_threads -c$CONNECTIONS -d2s "$@" "$url" >/dev/null   # warm-up
  "${on_client_cpu[@]}" wrk -t$wrk_threads -c$CONNECTIONS -d"${DURATION}s" --latency "$@" "$url" | awk '
    /Requests\/sec/ { rps = $2 }
    /^ +99%/ { v = $2; if (v ~ /us$/) { sub(/us/, "", v); v = v / 1000 } else if (v ~ /ms$/) { sub(/ms/, "", v) } else if (v ~ /s$/) { sub(/s/, "", v); v = v * 1000 }; p99 = v }
    END { printf "%s %s\n", rps, p99 }'
}

read -r bare_rps bare_p99 < <(measure "http://127.0.0.1:$BARE_PORT/")
printf '\nbare poem server (same bytes as /api/articles/hot, %s bytes): %.0f req/s, p99 %.2f ms\n\n' \
  "$(wc -c < "$work/hot.json")" "$bare_rps" "$bare_p99"
printf '%-28s %12s %10s %10s\n' "route" "req/s" "p99 ms" "ratio"
for route in /api/articles/hot /api/articles/featured "/api/articles/$article_id"; do
  read -r rps p99 < <(measure "http://127.0.0.1:$QSHARE_PORT$route")
  ratio=$(python3 -c "print(f'{$rps / $bare_rps * 100:.1f}%')")
  printf '%-28s %12.0f %10.2f %10s\n' "$route" "$rps" "$p99" "$ratio"
done

# The edge: revalidation and compression of the hot list, each against its own bare servers:
# one that answers with the same status, tag and body only, and one that also repeats every
# header qshare sends on that answer (captured below), so both put the same bytes on the wire.
# The target rows compare with the second: "a bare poem server answering the same 304".
hot=http://127.0.0.1:$QSHARE_PORT/api/articles/hot
etag=$(curl -fsS -D - -o /dev/null "$hot" | awk 'tolower($1) == "etag:" { print $2 }' | tr -d '\r')
curl -sS -H "If-None-Match: $etag" -D "$work/304.headers" -o /dev/null "$hot"
head -n1 "$work/304.headers" | grep -q ' 304' || { echo "the hot list did not revalidate with 304" >&2; exit 1; }
curl -fsS -H 'Accept-Encoding: br, gzip' -D "$work/br.headers" -o "$work/hot.br" "$hot"
coding=$(awk 'tolower($1) == "content-encoding:" { print $2 }' "$work/br.headers" | tr -d '\r')
[ "$coding" = br ] || { echo "the hot list was not sent as br (got '$coding')" >&2; exit 1; }
"${on_server_cpu[@]}" "$target_dir/release/bench_bare" $((BARE_PORT + 1)) "$work/hot.json" - "$etag" &
pids+=($!)
"${on_server_cpu[@]}" "$target_dir/release/bench_bare" $((BARE_PORT + 2)) "$work/hot.br" br &
pids+=($!)
"${on_server_cpu[@]}" "$target_dir/release/bench_bare" $((BARE_PORT + 3)) "$work/hot.json" - "$etag" "$work/304.headers" &
pids+=($!)
"${on_server_cpu[@]}" "$target_dir/release/bench_bare" $((BARE_PORT + 4)) "$work/hot.br" br - "$work/br.headers" &
pids+=($!)
sleep 0.5
identity_bytes=$(wc -c < "$work/hot.json")
br_bytes=$(wc -c < "$work/hot.br")
# Bare and qshare runs alternate, ROUNDS times, and each ratio is taken within a round:
# a bare server's rate swings by a tenth from one run to the next on this machine, so one
# pair of runs can land either side of a target. The median of the rounds is the figure.
declare -A runs
for _ in $(seq 1 "$ROUNDS"); do
  read -r r _ < <(measure "http://127.0.0.1:$((BARE_PORT + 1))/" -H "If-None-Match: $etag"); runs[bare304]+=" $r"
  read -r r _ < <(measure "http://127.0.0.1:$((BARE_PORT + 3))/" -H "If-None-Match: $etag"); runs[same304]+=" $r"
  read -r r p < <(measure "$hot" -H "If-None-Match: $etag"); runs[q304]+=" $r"; runs[q304p99]+=" $p"
  read -r r _ < <(measure "http://127.0.0.1:$((BARE_PORT + 2))/" -H "Accept-Encoding: br, gzip"); runs[barebr]+=" $r"
  read -r r _ < <(measure "http://127.0.0.1:$((BARE_PORT + 4))/" -H "Accept-Encoding: br, gzip"); runs[samebr]+=" $r"
  read -r r p < <(measure "$hot" -H "Accept-Encoding: br, gzip"); runs[qbr]+=" $r"; runs[qbrp99]+=" $p"
done
edge_row() { # label, qshare runs, qshare p99s, bare runs, bytes saved
  python3 - "$@" <<'PY'
import statistics, sys
label, mine, p99s, bare, saved = sys.argv[1:]
mine, p99s, bare = ([float(v) for v in x.split()] for x in (mine, p99s, bare))
ratios = [m / b * 100 for m, b in zip(mine, bare)]
rounds = " ".join(f"{r:.1f}" for r in ratios)
med = statistics.median
print(f"{label + f' (bare {med(bare):.0f})':<40} {med(mine):>10.0f} {med(p99s):>8.2f} {med(ratios):>8.1f}% {saved:>10}   rounds: {rounds}")
PY
}
printf '\n%-40s %10s %8s %9s %10s\n' "edge row (median of $ROUNDS rounds)" "req/s" "p99 ms" "ratio" "B saved"
edge_row "hot 304, bare with ETag only" "${runs[q304]}" "${runs[q304p99]}" "${runs[bare304]}" "$identity_bytes"
edge_row "hot 304, bare with same headers" "${runs[q304]}" "${runs[q304p99]}" "${runs[same304]}" "$identity_bytes"
edge_row "hot br, bare with body only" "${runs[qbr]}" "${runs[qbrp99]}" "${runs[barebr]}" "$((identity_bytes - br_bytes))"
edge_row "hot br, bare with same headers" "${runs[qbr]}" "${runs[qbrp99]}" "${runs[samebr]}" "$((identity_bytes - br_bytes))"
printf '(qshare 304 headers: %s bytes; hot list: %s bytes identity, %s bytes br)\n' \
  "$(wc -c < "$work/304.headers")" "$identity_bytes" "$br_bytes"
grep -iE "error|panic" "$work/qshare.log" | head -5 || true
