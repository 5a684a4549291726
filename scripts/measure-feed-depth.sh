#!/usr/bin/env bash
# Measures GET /api/articles at page 1 and at depth 10,000 of a 20,000-article feed.
# Keyset pagination should make both cost about the same.
#
#   scripts/measure-feed-depth.sh                      # SQLite in a temp directory
#   scripts/measure-feed-depth.sh postgres://postgres@127.0.0.1:5432/test
#                                                      # a fresh database on that server
# Release build; sends traffic only to 127.0.0.1; bounded (a few thousand requests).
set -euo pipefail
export PGOPTIONS="-c client_min_messages=warning"
cd "$(dirname "$0")/.."
ARTICLES=20000
DEPTH=10000
REPEAT=${REPEAT:-400}
PORT=${PORT:-18181}

cargo build --release --locked -q
work=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  [ -n "${pg_admin:-}" ] && psql "$pg_admin" -qc "DROP DATABASE IF EXISTS qshare_bench_depth WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

if [ $# -ge 1 ]; then
  pg_admin=$1
  psql "$pg_admin" -qc "DROP DATABASE IF EXISTS qshare_bench_depth WITH (FORCE)" >/dev/null
  psql "$pg_admin" -qc "CREATE DATABASE qshare_bench_depth" >/dev/null
  export DATABASE_URL="${pg_admin%/*}/qshare_bench_depth"
  backend=postgres
else
  export DATABASE_URL="sqlite://$work/qshare.db?mode=rwc"
  backend=sqlite
fi
export APP_SERVER__PORT=$PORT APP_LOG__LEVEL=warn APP_DEMO__SEED_WHEN_EMPTY=false
# Later feed pages are uncached reads with a per-IP budget; this script reads thousands.
export APP_RATE_LIMIT__UNCACHED_READS_PER_IP=1000000
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/qshare
(cd "$work" && "$bin" seed-demo && "$bin" seed-demo --bulk $ARTICLES) >/dev/null
(cd "$work" && exec "$bin") >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 50); do curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.2; done

python3 - "$PORT" "$DEPTH" "$REPEAT" "$backend" <<'PY'
import http.client, json, statistics, sys, time
port, depth, repeat, backend = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
conn = http.client.HTTPConnection("127.0.0.1", port)
def get(path):
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read()
    assert r.status == 200, (r.status, body[:200])
    return json.loads(body)
# Walk to depth with the largest pages, then time 20-item pages at both positions.
cursor, seen = None, 0
while seen < depth:
    page = get("/api/articles?limit=100" + (f"&cursor={cursor}" if cursor else ""))
    seen += len(page["items"]); cursor = page["next_cursor"]
deep = f"/api/articles?limit=20&cursor={cursor}"
first = "/api/articles?limit=20"
def measure(path):
    for _ in range(20): get(path)
    samples = []
    for _ in range(repeat):
        t = time.perf_counter(); get(path); samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95)]
m1, p1 = measure(first)
md, pd = measure(deep)
print(f"backend={backend} depth={seen} requests={repeat} per position")
print(f"{'page':<16}{'median ms':>10}{'p95 ms':>10}")
print(f"{'first':<16}{m1:>10.3f}{p1:>10.3f}")
print(f"{'depth '+str(seen):<16}{md:>10.3f}{pd:>10.3f}")
print(f"ratio deep/first (median): {md / m1:.2f}")
PY
