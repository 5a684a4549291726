#!/usr/bin/env bash
# Measures the server's resident memory (RSS) under failed logins: at start, after a burst
# of 48 parallel failed logins, then after 150 more one at a time. Each failed login costs
# one argon2 hash (~19 MiB of working memory), so this shows whether hashing memory is
# bounded and reused.
#
#   scripts/measure-login-rss.sh                 # builds and measures the release binary
#   BIN=/path/to/qshare scripts/measure-login-rss.sh   # measures another build
# SQLite in a temp directory, in-process cache; traffic only to 127.0.0.1; bounded
# (198 requests).
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-18182}
PARALLEL=${PARALLEL:-48}
SEQUENTIAL=${SEQUENTIAL:-150}

if [ -z "${BIN:-}" ]; then
  cargo build --release --locked -q
  BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/qshare
fi
work=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

export DATABASE_URL="sqlite://$work/qshare.db?mode=rwc"
export APP_SERVER__PORT=$PORT APP_LOG__LEVEL=warn APP_DEMO__SEED_WHEN_EMPTY=false
export APP_JOBS__ENABLED=false
# The point is to hash many times: lift the login limits for this run.
export APP_RATE_LIMIT__LOGIN_FAILURES_PER_IP=1000000 APP_RATE_LIMIT__LOGIN_FAILURES_PER_USERNAME=1000000
(cd "$work" && exec "$BIN") >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.2; done

python3 - "$PORT" "$server_pid" "$PARALLEL" "$SEQUENTIAL" <<'PY'
import http.client, json, sys, threading, time
port, pid, parallel, sequential = (int(a) for a in sys.argv[1:5])

def rss_mib():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise SystemExit("no VmRSS")

def failed_login(i):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    body = json.dumps({"username": f"nobody_{i}", "password": "a-wrong-password"})
    conn.request("POST", "/api/auth/login", body, {"Content-Type": "application/json"})
    r = conn.getresponse()
    r.read()
    assert r.status == 401, r.status
    conn.close()

print(f"{'moment':<40} {'RSS MiB':>8}")
print(f"{'at start':<40} {rss_mib():8.1f}")
started = time.monotonic()
threads = [threading.Thread(target=failed_login, args=(i,)) for i in range(parallel)]
for t in threads: t.start()
for t in threads: t.join()
burst = time.monotonic() - started
time.sleep(0.5)
print(f"{f'after {parallel} parallel failed logins':<40} {rss_mib():8.1f}   ({burst:.2f} s)")
started = time.monotonic()
for i in range(sequential):
    failed_login(parallel + i)
seq = time.monotonic() - started
time.sleep(0.5)
print(f"{f'after {sequential} more, one at a time':<40} {rss_mib():8.1f}   ({seq:.2f} s)")
PY
