#!/usr/bin/env bash
# Device push benchmark (issue 15): one campaign to 100,000 APNs devices, and separately one
# to 100,000 FCM devices, through the local fake (`fake_push`: HTTP/2 over TLS with its own
# CA, loopback only), each beside a bare reqwest HTTP/2 loop (`bench_device_push_bare`)
# sending the same number of notifications to a fresh fake with the same concurrency, the
# same TLS settings, the same payloads and tokens, and one provider token. Prints
# deliveries/s of both, the ratio, qshare's peak RSS, and what the fake counted (messages,
# tokens with more than one message = duplicates, provider-token mints, connections).
#
#   scripts/bench-device-push.sh                    # SQLite file, in-process cache
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test scripts/bench-device-push.sh
#   DEVICES=5000 PROVIDERS=apns scripts/bench-device-push.sh   # smaller run, one provider
#   KEEP_WORK=1 BENCH_LOG=info,qshare=debug scripts/bench-device-push.sh   # keep logs and data
#   BENCH_BIN=$PWD/target/debug scripts/bench-device-push.sh   # another build's binaries
# Release build; all traffic goes to 127.0.0.1; every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICES=${DEVICES:-100000}
PROVIDERS=${PROVIDERS:-apns fcm}
CONCURRENCY=${CONCURRENCY:-64}
CLAIM_BATCH=${CLAIM_BATCH:-1000}
FAKE_PORT=${FAKE_PORT:-18393}
QSHARE_PORT=${QSHARE_PORT:-18394}

if [[ -z "${BENCH_BIN:-}" ]]; then
  cargo build --release --locked -q --bin qshare --bin fake_push --bin bench_device_push_bare
fi
bin=${BENCH_BIN:-$PWD/target/release}
work=$(mktemp -d)
pids=()
dbs=()
base_db=${DATABASE_URL:-}
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for d in "${dbs[@]}"; do psql "$base_db" -qc "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1 || true; done
  [ -n "${KEEP_WORK:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT

wait_for() { # file pattern
  for _ in $(seq 1 200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "no '$2' in $1" >&2; cat "$1" >&2; return 1
}

wait_port() { # url
  for _ in $(seq 1 300); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "nothing answers at $1" >&2; return 1
}

start_fake() { # dir
  mkdir -p "$1"
  "$bin/fake_push" --port "$FAKE_PORT" --keys-dir "$1/keys" --report-secs 0 >"$1/fake.log" 2>&1 &
  fake_pid=$!
  pids+=("$fake_pid")
  wait_for "$1/fake.log" '^harmony:'
}

stop_fake() { # dir -> prints its FAKE_STATS line (runs in $(...): no `wait` here)
  kill -TERM "$fake_pid"
  for _ in $(seq 1 100); do grep -q '^FAKE_STATS' "$1/fake.log" && break; sleep 0.1; done
  grep '^FAKE_STATS' "$1/fake.log"
}

cpu_ticks() { awk '{ sub(/.*\) /, ""); split($0, f, " "); print f[12] + f[13] }' "/proc/$1/stat"; }

results=()
for provider in $PROVIDERS; do
  case "$provider" in apns|fcm) ;; *) echo "PROVIDERS takes apns and/or fcm, not $provider" >&2; exit 2 ;; esac
  echo "== $provider: $DEVICES devices, concurrency $CONCURRENCY"

  # 1. The bare loop against a fresh fake.
  start_fake "$work/bare-$provider"
  bare=$("$bin/bench_device_push_bare" --provider "$provider" --base "https://localhost:$FAKE_PORT" \
    --ca-cert "$work/bare-$provider/keys/ca.pem" --keys-dir "$work/bare-$provider/keys" \
    --count "$DEVICES" --concurrency "$CONCURRENCY")
  echo "$bare"
  bare_fake=$(stop_fake "$work/bare-$provider")
  echo "fake (bare): $bare_fake"
  wait "$fake_pid" 2>/dev/null || true

  # 2. qshare against another fresh fake, on a fresh database.
  dir="$work/qshare-$provider"
  start_fake "$dir"
  keys="$dir/keys"
  if [[ "$base_db" == postgres* ]]; then
    db_name="qshare_devbench_$$_$provider"
    psql "$base_db" -qc "CREATE DATABASE $db_name" >/dev/null
    dbs+=("$db_name")
    export DATABASE_URL="${base_db%/*}/$db_name"
  else
    export DATABASE_URL="sqlite://$dir/qshare.db?mode=rwc"
  fi
  export APP_SERVER__PORT=$QSHARE_PORT APP_LOG__LEVEL=${BENCH_LOG:-warn} APP_JOBS__ENABLED=false
  export APP_PUSH__CHANNELS__INBOX__ENABLED=false
  export APP_PUSH__CLAIM_BATCH=$CLAIM_BATCH
  if [[ "$provider" == apns ]]; then
    export APP_PUSH__CHANNELS__APNS__ENABLED=true
    export APP_PUSH__CHANNELS__APNS__BASE_URL="https://localhost:$FAKE_PORT"
    export APP_PUSH__CHANNELS__APNS__SANDBOX_BASE_URL="https://localhost:$FAKE_PORT"
    export APP_PUSH__CHANNELS__APNS__CA_CERT_PATH="$keys/ca.pem"
    export APP_PUSH__CHANNELS__APNS__KEY_PATH="$keys/apns.p8"
    export APP_PUSH__CHANNELS__APNS__KEY_ID=FAKEKEY123 APP_PUSH__CHANNELS__APNS__TEAM_ID=FAKETEAM01
    export APP_PUSH__CHANNELS__APNS__TOPIC=com.example.qshare
    export APP_PUSH__CHANNELS__APNS__CONCURRENCY=$CONCURRENCY
    unset APP_PUSH__CHANNELS__FCM__ENABLED
  else
    export APP_PUSH__CHANNELS__FCM__ENABLED=true
    export APP_PUSH__CHANNELS__FCM__BASE_URL="https://localhost:$FAKE_PORT"
    export APP_PUSH__CHANNELS__FCM__CA_CERT_PATH="$keys/ca.pem"
    export APP_PUSH__CHANNELS__FCM__SERVICE_ACCOUNT_PATH="$keys/fcm.json"
    export APP_PUSH__CHANNELS__FCM__CONCURRENCY=$CONCURRENCY
    unset APP_PUSH__CHANNELS__APNS__ENABLED
  fi
  seed_started=$(date +%s.%N)
  (cd "$dir" && "$bin/qshare" seed-demo --devices "$DEVICES" --device-provider "$provider") >"$dir/seed.log" 2>&1
  seed_secs=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$seed_started" "$(date +%s.%N)")
  echo "seeded $DEVICES $provider devices (and the demo articles) in $seed_secs s"
  (cd "$dir" && echo "bench-admin-password" | "$bin/qshare" admin create --username bench_admin) >/dev/null
  (cd "$dir" && exec "$bin/qshare") >"$dir/qshare.log" 2>&1 &
  qshare_pid=$!
  pids+=("$qshare_pid")
  api="http://127.0.0.1:$QSHARE_PORT"
  wait_port "$api/readyz"
  token=$(curl -fsS "$api/api/auth/login" -H 'content-type: application/json' \
    -d '{"username":"bench_admin","password":"bench-admin-password"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  auth=(-H "authorization: Bearer $token")
  article=$(curl -fsS "$api/api/articles?limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')
  cpu_before=$(cpu_ticks "$qshare_pid")
  campaign=$(curl -fsS -X POST "${auth[@]}" "$api/api/admin/push/articles/$article" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  status=""
  for _ in $(seq 1 600); do   # at most 10 minutes
    detail=$(curl -fsS "${auth[@]}" "$api/api/admin/push/campaigns/$campaign")
    status=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["status"])' "$detail")
    [[ "$status" == done || "$status" == failed ]] && break
    sleep 1   # the timing comes from the campaign's own timestamps, not from this loop
  done
  [[ "$status" == done ]] || { echo "campaign ended $status: $detail" >&2; exit 1; }
  cpu_after=$(cpu_ticks "$qshare_pid")
  rss_kb=$(awk '/VmHWM/ { print $2 }' "/proc/$qshare_pid/status")
  kill -TERM "$qshare_pid"; wait "$qshare_pid" 2>/dev/null || true
  qshare_fake=$(stop_fake "$dir")
  echo "fake (qshare): $qshare_fake"
  wait "$fake_pid" 2>/dev/null || true
  results+=("$(python3 - "$provider" "$detail" "$bare" "$rss_kb" "$qshare_fake" "$bare_fake" "$cpu_before" "$cpu_after" "$seed_secs" <<'PY'
import sys, json
from datetime import datetime
provider, detail, bare_line, rss_kb, fake, bare_fake, cpu0, cpu1, seed = sys.argv[1:]
detail = json.loads(detail)
kv = lambda line: dict(x.split("=") for x in line.split()[1:])
bare, stats, bstats = kv(bare_line), kv(fake), kv(bare_fake)
at = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))
secs = (at(detail["finished_at"]) - at(detail["created_at"])).total_seconds()
frozen = (at(detail["prepared_at"]) - at(detail["created_at"])).total_seconds()
sent = sum(c["sent"] for c in detail["channels"])
cpu = (float(cpu1) - float(cpu0)) / 100
print(json.dumps({
    "provider": provider, "sent": sent, "secs": secs, "frozen": frozen, "rate": sent / secs,
    "bare": float(bare["rate"]), "bare_sent": int(bare["sent"]), "rss": int(rss_kb) / 1024,
    "dups": int(stats["tokens_with_several_messages"]), "delivered": int(stats["delivered"]),
    "bare_dups": int(bstats["tokens_with_several_messages"]),
    "jwts": int(stats["apns_jwts"]), "mints": int(stats["fcm_mints"]), "conns": int(stats["connections"]),
    "cpu_ms_per_1k": cpu / max(sent, 1) * 1e6,
    "bare_cpu_ms_per_1k": float(bare["cpu_seconds"]) / max(int(bare["sent"]), 1) * 1e6,
    "seed": float(seed),
}))
PY
)")
  unset DATABASE_URL
  [[ -n "$base_db" ]] && export DATABASE_URL=$base_db
done

python3 - "$DEVICES" "$CONCURRENCY" "${base_db:-sqlite}" "$(uptime)" "${results[@]}" <<'PY'
import sys, json
n, conc, db, load, *rows = sys.argv[1:]
rows = [json.loads(r) for r in rows]
backend = "PostgreSQL" if db.startswith("postgres") else "SQLite"
print(f"\ndevice push: one campaign to {n} devices per provider ({backend}, concurrency {conc}, fake over TLS + HTTP/2)")
print(f"load: {load.strip()}")
head = f"{'provider':9}{'bare/s':>9}{'qshare/s':>10}{'ratio':>8}{'peak RSS':>10}{'dups':>6}{'sent':>8}{'seed s':>8}{'campaign s':>12}{'CPU ms/1k q|bare':>18}"
print(head)
ok = True
for r in rows:
    ratio = r["rate"] / r["bare"]
    print(f"{r['provider']:9}{r['bare']:>9.0f}{r['rate']:>10.0f}{ratio:>8.1%}{r['rss']:>8.1f}MB{r['dups']:>6}{r['sent']:>8}"
          f"{r['seed']:>8.1f}{r['secs']:>12.2f}{r['cpu_ms_per_1k']:>9.0f}|{r['bare_cpu_ms_per_1k']:.0f}")
    extra = f"  {r['provider']}: recipients frozen after {r['frozen']:.2f} s (sending overlaps it); fake counted {r['delivered']} messages, {r['conns']} connection(s)"
    extra += f", {r['jwts']} APNs JWT(s)" if r["provider"] == "apns" else f", {r['mints']} FCM token exchange(s)"
    print(extra)
    ok &= r["sent"] == int(n) and r["delivered"] == int(n) and r["dups"] == 0 and r["rss"] < 150 and ratio >= 0.5
print("targets (>= 50% of bare, RSS < 150 MB, zero duplicates, every device reached):", "met" if ok else "NOT met")
PY
