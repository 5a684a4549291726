#!/usr/bin/env bash
# Push benchmark (DESIGN.md §9): one campaign to 100,000 followers through wechat_template
# against the local fake WeChat (rate limit off), beside a bare reqwest loop sending the same
# number of template messages to the same fake with the same concurrency, once before and
# once after qshare (the baseline is their mean). Prints deliveries/s, the ratio to the bare
# loop, qshare's peak RSS, and what the fake received (messages, resends it absorbed,
# followers with more than one message = duplicates).
#
#   scripts/bench-push.sh                       # SQLite file, in-process cache
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test scripts/bench-push.sh
#   FOLLOWERS=20000 scripts/bench-push.sh       # smaller run
#   KEEP_WORK=1 BENCH_LOG=info,qshare=debug scripts/bench-push.sh   # keep logs and data
#   BENCH_BIN=$PWD/target/debug scripts/bench-push.sh   # another build's binaries
# Release build; all traffic goes to 127.0.0.1; every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
FOLLOWERS=${FOLLOWERS:-100000}
CONCURRENCY=${CONCURRENCY:-16}
CLAIM_BATCH=${CLAIM_BATCH:-1000}
FAKE_PORT=${FAKE_PORT:-18391}
QSHARE_PORT=${QSHARE_PORT:-18392}
OA_APP_ID=wxfakeofficialacct
OA_SECRET=fake-official-account-secret

cargo build --release --locked -q --bin qshare --bin fake_wechat --bin bench_push_bare
bin=${BENCH_BIN:-$PWD/target/release}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; [ -n "${KEEP_WORK:-}" ] && echo "kept $work" || rm -rf "$work"; }
trap cleanup EXIT

wait_port() { # url
  for _ in $(seq 1 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "nothing answers at $1" >&2; return 1
}

start_fake() { # log file
  "$bin/fake_wechat" --port "$FAKE_PORT" --followers "$FOLLOWERS" >"$1" 2>&1 &
  fake_pid=$!
  pids+=("$fake_pid")
  wait_port "http://127.0.0.1:$FAKE_PORT/"
}

stop_fake() { # log file -> prints its FAKE_STATS line (runs in $(...): no `wait` here)
  kill -TERM "$fake_pid"
  for _ in $(seq 1 100); do grep -q '^FAKE_STATS' "$1" && break; sleep 0.1; done
  grep '^FAKE_STATS' "$1"
}

# 1. The bare loop against a fresh fake (run again after qshare: the baseline is their mean,
# so that a machine that speeds up or slows down during the run does not skew the ratio).
bare_loop() { # log file -> prints the loop's BARE line
  start_fake "$1"
  "$bin/bench_push_bare" --base "http://127.0.0.1:$FAKE_PORT" --count "$FOLLOWERS" \
    --concurrency "$CONCURRENCY" --app-id "$OA_APP_ID" --secret "$OA_SECRET"
  stop_fake "$1" >/dev/null
}
bare=$(bare_loop "$work/fake-bare.log")
echo "$bare"

# 2. qshare against another fresh fake.
start_fake "$work/fake-qshare.log"
export DATABASE_URL="${DATABASE_URL:-sqlite://$work/qshare.db?mode=rwc}"
if [[ "$DATABASE_URL" == postgres* ]]; then
  db_name="qshare_bench_$$"
  psql "$DATABASE_URL" -qc "CREATE DATABASE $db_name" >/dev/null
  base_url=$DATABASE_URL
  DATABASE_URL="${DATABASE_URL%/*}/$db_name"
  cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; [ -n "${KEEP_WORK:-}" ] && echo "kept $work" || rm -rf "$work";
    psql "$base_url" -qc "DROP DATABASE IF EXISTS $db_name WITH (FORCE)" >/dev/null 2>&1 || true; }
fi
export APP_SERVER__PORT=$QSHARE_PORT APP_LOG__LEVEL=${BENCH_LOG:-warn} APP_JOBS__ENABLED=false
export APP_WECHAT__API_BASE_URL="http://127.0.0.1:$FAKE_PORT"
export APP_WECHAT__OFFICIAL_ACCOUNT__APP_ID=$OA_APP_ID APP_WECHAT__OFFICIAL_ACCOUNT__APP_SECRET=$OA_SECRET
export APP_PUSH__CHANNELS__INBOX__ENABLED=false
export APP_PUSH__CHANNELS__WECHAT_TEMPLATE__ENABLED=true
export APP_PUSH__CHANNELS__WECHAT_TEMPLATE__TEMPLATE_ID=tpl-bench
export APP_PUSH__CHANNELS__WECHAT_TEMPLATE__RATE_PER_SEC=0
export APP_PUSH__CONCURRENCY=$CONCURRENCY APP_PUSH__CLAIM_BATCH=$CLAIM_BATCH
(cd "$work" && echo "bench-admin-password" | "$bin/qshare" admin create --username bench_admin) >/dev/null
(cd "$work" && exec "$bin/qshare") >"$work/qshare.log" 2>&1 &
qshare_pid=$!
pids+=("$qshare_pid")
api="http://127.0.0.1:$QSHARE_PORT"
wait_port "$api/readyz"
token=$(curl -fsS "$api/api/auth/login" -H 'content-type: application/json' \
  -d '{"username":"bench_admin","password":"bench-admin-password"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
auth=(-H "authorization: Bearer $token")
# The sync runs in the background (202 with its run): wait until the run is final.
run=$(curl -fsS -X POST "${auth[@]}" "$api/api/admin/followers/sync")
job_id=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["job_id"])' "$run")
run_id=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "$run")
sync=""
for _ in $(seq 1 600); do   # at most 5 minutes
  sync=$(curl -fsS "${auth[@]}" "$api/api/admin/jobs/$job_id/runs?limit=100" |
    python3 -c 'import json,sys; r=[x for x in json.load(sys.stdin)["items"] if x["id"]==int(sys.argv[1])][0]; print(json.dumps(r) if r["status"]!="running" else "")' "$run_id")
  [[ -n "$sync" ]] && break
  sleep 0.5
done
[[ "$sync" == *'"status": "ok"'* ]] || { echo "follower sync did not succeed: $sync" >&2; exit 1; }
echo "followers synced: $sync"
article=$(curl -fsS "$api/api/articles?limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')

cpu_ticks() { awk '{ sub(/.*\) /, ""); split($0, f, " "); print f[12] + f[13] }' "/proc/$1/stat"; }
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
sent=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(sum(c["sent"] for c in d["channels"]))' "$detail")
rss_kb=$(awk '/VmHWM/ { print $2 }' "/proc/$qshare_pid/status")
fake_stats=$(stop_fake "$work/fake-qshare.log")
echo "$fake_stats"
bare_after=$(bare_loop "$work/fake-bare-after.log")
echo "$bare_after"

python3 - "$sent" "$detail" "$bare" "$bare_after" "$rss_kb" "$fake_stats" "$FOLLOWERS" "$CONCURRENCY" "$DATABASE_URL" "$cpu_before" "$cpu_after" <<'PY'
import sys, json
from datetime import datetime
sent, detail, bare_line, bare_after_line, rss_kb, fake, n, conc, db, cpu0, cpu1 = sys.argv[1:]
bare_stats = dict(kv.split("=") for kv in bare_line.split()[1:])
bare_after = float(dict(kv.split("=") for kv in bare_after_line.split()[1:])["rate"])
bare_before = float(bare_stats["rate"])
bare = (bare_before + bare_after) / 2
cpu = (float(cpu1) - float(cpu0)) / 100
detail = json.loads(detail)
# The campaign's own timestamps: created (recipients not yet frozen) to finished.
at = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))
secs = (at(detail["finished_at"]) - at(detail["created_at"])).total_seconds()
sent, bare, rss = int(sent), float(bare), int(rss_kb) / 1024
stats = dict(kv.split("=") for kv in fake.split()[1:])
rate = sent / secs
backend = "PostgreSQL" if db.startswith("postgres") else "SQLite"
print(f"\npush of one article to {n} followers via wechat_template ({backend}, concurrency {conc})")
print(f"{'':34}{'deliveries/s':>14}{'ratio':>8}")
print(f"{'bare reqwest loop (before, after)':34}{bare_before:>7.0f},{bare_after:>6.0f}")
print(f"{'bare reqwest loop (mean)':34}{bare:>14.0f}{'100%':>8}")
print(f"{'qshare campaign (created→done)':34}{rate:>14.0f}{rate / bare:>8.1%}")
frozen = (at(detail["prepared_at"]) - at(detail["created_at"])).total_seconds()
print(f"campaign: {sent} sent in {secs:.2f} s (recipients frozen after {frozen:.2f} s; sending overlaps it); "
      f"qshare peak RSS {rss:.1f} MB")
print(f"CPU per 1,000 messages: qshare {cpu / sent * 1000 * 1000:.0f} ms (database server not included), "
      f"bare loop {float(bare_stats['cpu_seconds']) / float(bare_stats['sent']) * 1000 * 1000:.0f} ms")
print(f"fake WeChat: {stats['templates_sent']} messages received, "
      f"{stats['template_duplicates_prevented']} resends absorbed by client_msg_id, "
      f"{stats['openids_with_several_messages']} followers with more than one message (duplicates)")
ok = sent == int(n) and int(stats["openids_with_several_messages"]) == 0 and rss < 150 and rate >= 0.5 * bare
print("targets (>= 50% of bare, RSS < 150 MB, zero duplicates):", "met" if ok else "NOT met")
PY
