#!/usr/bin/env bash
# Search benchmark (DESIGN.md §9): 20,000 seeded articles of varied Chinese and English tech
# text, the embedded tantivy index. Prints the time to build the index from SQL, start-up to
# ready on the existing index, idle RSS before and after the first search, then p50/p99 and
# req/s of 10 representative queries and of suggestions at 16 connections (wrk).
#
#   scripts/bench-search.sh                  # SQLite file, in-process cache
#   ARTICLES=5000 DURATION=3 scripts/bench-search.sh
# Release build; all traffic goes to 127.0.0.1; every run is bounded by DURATION.
set -euo pipefail
cd "$(dirname "$0")/.."
ARTICLES=${ARTICLES:-20000}
DURATION=${DURATION:-5}
CONNECTIONS=16
PORT=${QSHARE_PORT:-18481}

if ! command -v wrk >/dev/null; then
  echo "installing wrk from Debian packages"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
cargo build --release --locked -q --bin qshare
target_dir=${CARGO_TARGET_DIR:-$PWD/target}
bin=$target_dir/release/qshare
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

export DATABASE_URL="sqlite://$work/qshare.db?mode=rwc"
export APP_SERVER__PORT=$PORT APP_DEMO__SEED_WHEN_EMPTY=false APP_JOBS__ENABLED=false
export APP_SEARCH__INDEX_DIR="$work/search"
# The per-IP search budget stays on in production; the benchmark is one client.
export APP_RATE_LIMIT__SEARCHES_PER_IP=100000000 APP_RATE_LIMIT__UNCACHED_READS_PER_IP=100000000
export APP_LOG__LEVEL=warn,qshare::search=info
(cd "$work" && "$bin" seed-demo && "$bin" seed-demo --bulk "$ARTICLES" --search-corpus) >/dev/null

rss_mb() { awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
start() { # log -> sets pid and ready_in_ms (not in $(...): pid must reach this shell)
  local t0; t0=$(date +%s%N)
  (cd "$work" && exec "$bin") >"$1" 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do
    curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
    sleep 0.05
  done
  curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null
  ready_in_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; }

start "$work/first.log"
build_ms=$ready_in_ms
stop
start "$work/second.log"
ready_ms=$ready_in_ms
sleep 1
idle=$(rss_mb "$pid")
curl -fsS "http://127.0.0.1:$PORT/api/search?q=redis" >/dev/null
sleep 0.5
after_first=$(rss_mb "$pid")
echo
echo "articles: $ARTICLES; index on disk: $(du -sh "$work/search" | cut -f1)"
# The sync line of a log, without the terminal colours the log is written in.
sync_line() { sed 's/\x1b\[[0-9;]*m//g' "$1" | grep -o 'reindexed=[0-9]* ms=[0-9]*' || echo 'no sync line'; }
echo "first start (index built from SQL): ${build_ms} ms to ready; $(sync_line "$work/first.log")"
echo "start on the existing index: ${ready_ms} ms to ready; $(sync_line "$work/second.log")"
echo "idle RSS: ${idle} MB before the first search, ${after_first} MB after it"
echo

# Server CPU (user + system) in milliseconds so far: unlike latency, its cost per request
# hardly depends on what else the machine is doing.
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%d", ($14 + $15) * 1000 / hz }' "/proc/$pid/stat"; }

# wrk output -> "requests_per_sec p50_ms p99_ms server_cpu_ms_per_1000_requests"
measure() {
  wrk -t2 -c$CONNECTIONS -d1s "$1" >/dev/null   # warm-up
  local cpu0; cpu0=$(cpu_ms)
  wrk -t2 -c$CONNECTIONS -d"${DURATION}s" --latency "$1" >"$work/wrk.out"
  local cpu=$(( $(cpu_ms) - cpu0 ))
  awk -v cpu="$cpu" '
    function ms(v) { if (v ~ /us$/) { sub(/us/, "", v); return v / 1000 } if (v ~ /ms$/) { sub(/ms/, "", v); return v } sub(/s/, "", v); return v * 1000 }
    /Requests\/sec/ { rps = $2 }
    /requests in/ { n = $1 }
    /^ +50%/ { p50 = ms($2) }
    /^ +99%/ { p99 = ms($2) }
    /Non-2xx/ { bad = $NF }
    END { if (bad) { print "non-2xx answers: " bad > "/dev/stderr" }; printf "%s %s %s %s\n", rps, p50, p99, (n ? cpu * 1000 / n : 0) }' "$work/wrk.out"
}
enc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$1"; }

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-34s %10s %10s %10s %12s\n' "query" "req/s" "p50 ms" "p99 ms" "cpu ms/1k"
for q in "redis" "微服务" "负载均衡" "Rust 异步" "redis 缓存失效" "阿里雲" "kubernetes 灰度发布" "java 安全" "kube" "Kafka 消息队列 实战"; do
  read -r rps p50 p99 cpu < <(measure "http://127.0.0.1:$PORT/api/search?q=$(enc "$q")")
  printf '%-34s %10.0f %10.2f %10.2f %12.0f\n' "search: $q" "$rps" "$p50" "$p99" "$cpu"
done
for q in "red" "微服" "kube"; do
  read -r rps p50 p99 cpu < <(measure "http://127.0.0.1:$PORT/api/search/suggest?q=$(enc "$q")")
  printf '%-34s %10.0f %10.2f %10.2f %12.0f\n' "suggest: $q" "$rps" "$p50" "$p99" "$cpu"
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "RSS after the load: $(rss_mb "$pid") MB"
grep -iE "error|panic" "$work/second.log" | head -5 || true
