#!/usr/bin/env bash
# evident's commit viewer side by side with peer P1 of peers.md (git-monitoring-server, seed
# 003), run unmodified from a checkout of its repository, on the same generated repository.
#
#   scripts/bench-peers.sh PATH_TO_P1_CHECKOUT [N_COMMITS=5000]
#
# Needs wrk, python3 with Flask, and pip (prometheus-client 0.7.1 is installed into the scratch
# dir). P1 binds 127.0.0.1:5000, which must be free. Measures, with wrk (2 threads,
# 16 connections, 10 s) against each server in turn:
#   - P1 `/json/r` and `/list/r` (its whole listing, HEAD only, one response);
#   - evident: a 100-commit JSON page, and the whole listing as 1000-commit pages.
set -euo pipefail
P1=$(cd "$1" && pwd)
N=${2:-5000}
cd "$(dirname "$0")/.."
TOKEN=evd_0123456789abcdef_peerbenchpeerbenchpeerbenchpeerbench
work=$(mktemp -d)
p1= server=
trap '[ -n "$p1" ] && kill $p1 2>/dev/null; [ -n "$server" ] && kill $server 2>/dev/null; rm -rf "$work"' EXIT

cargo build -q --release -p evident
cargo build -q --release -p evident-git --example genrepo
target=${CARGO_TARGET_DIR:-target}
"$target/release/examples/genrepo" --tame "$work/r.git" "$N" >/dev/null
# Serve partial clones as GitHub and GitLab do (P1 clones everything either way).
git -C "$work/r.git" config uploadpack.allowFilter true
total=$(git -C "$work/r.git" rev-list --all | wc -l)
echo "repository: $total commits reachable from branches and tags ($(git -C "$work/r.git" rev-list HEAD | wc -l) from HEAD)"
pip install -q --disable-pip-version-check --target "$work/py" prometheus-client==0.7.1 2>/dev/null

rate() { wrk -t2 -c16 -d10s "$@" | awk '/Requests\/sec/ {print $2} /Non-2xx/ {print "non-2xx:", $NF}' | tr '\n' ' '; }
seconds() { local s=$(date +%s.%N); "$@" >/dev/null 2>&1; echo "$(date +%s.%N) - $s" | bc; }

# P1 clones into its working directory, so it runs from a copy.
cp -r "$P1" "$work/p1"
(cd "$work/p1" && PYTHONPATH="$work/py" exec python3 server.py >"$work/p1.log" 2>&1) &
p1=$!
for _ in $(seq 100); do curl -sf http://127.0.0.1:5000/ >/dev/null && break; sleep 0.1; done
echo "P1 add (clone + log):            $(seconds curl -sf -X POST --data "file://$work/r.git" http://127.0.0.1:5000/add/r)s"
p1_rows=$(curl -sf http://127.0.0.1:5000/list/r | grep -c "alert-info" || true)
echo "P1 /list rows:                   $p1_rows (its HEAD-only listing)"
echo "P1 /json req/s:                  $(rate http://127.0.0.1:5000/json/r)"
echo "P1 /list req/s:                  $(rate http://127.0.0.1:5000/list/r)"
echo "P1 peak RSS:                     $(grep VmHWM /proc/$p1/status | awk '{print $2/1024 " MB"}')"
kill $p1; p1=

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
host=http://127.0.0.1:$port
EVIDENT_BOOTSTRAP_TOKEN=$TOKEN EVIDENT_LOG=warn "$target/release/evident" server \
  --db "sqlite://$work/evident.db" --bind "127.0.0.1:$port" --mirrors-dir "$work/mirrors" \
  --git-allow-file --refresh-interval 0 >/dev/null 2>"$work/server.log" &
server=$!
for _ in $(seq 100); do curl -sf "$host/readyz" >/dev/null && break; sleep 0.1; done
auth=(-H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json")
curl -sf "${auth[@]}" -d '{"name":"bench"}' "$host/api/v1/orgs" >/dev/null
echo "evident repo add (clone + index): $(seconds curl -sf "${auth[@]}" -d "{\"name\":\"r\",\"url\":\"file://$work/r.git\"}" "$host/api/v1/orgs/bench/repos")s"
echo "evident indexed commits:         $(curl -sf "${auth[@]}" "$host/api/v1/orgs/bench/repos/r" | python3 -c 'import json,sys; print(json.load(sys.stdin)["commits"])')"
base="$host/api/v1/orgs/bench/repos/r/commits"
echo "evident 100-commit page req/s:   $(rate -H "Authorization: Bearer $TOKEN" "$base?page=3&per_page=100")"
echo "evident RSS after that load:     $(grep VmRSS /proc/$server/status | awk '{print $2/1024 " MB"}')"
echo "evident 1000-commit page req/s:  $(rate -H "Authorization: Bearer $TOKEN" "$base?page=2&per_page=1000") (a whole listing is $(( (total + 999) / 1000 )) such pages)"
echo "evident peak RSS:                $(grep VmHWM /proc/$server/status | awk '{print $2/1024 " MB"}')"
