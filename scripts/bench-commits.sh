#!/usr/bin/env bash
# Commit viewer benchmark, side by side with git on the same repository, in one run.
#
#   scripts/bench-commits.sh [N_COMMITS=85000 | PATH_TO_A_LOCAL_REPOSITORY]
#
# Needs wrk (apt-get install wrk). Generates a bare repository with git fast-import (evident-git's
# genrepo example), starts a release `evident server`, and measures:
#   1. first full index (clone + list + store) vs `git clone --bare` + `git log --all` on it;
#   2. an incremental refresh bringing 10 new commits vs `git fetch` of the same;
#   3. requests/s for a 100-commit JSON page (wrk, 2 threads, 16 connections, 10 s) and the
#      server's peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
ARG=${1:-85000}
TOKEN=evd_0123456789abcdef_commitbenchcommitbenchcommitbench
work=$(mktemp -d)
server=
trap '[ -n "$server" ] && kill $server 2>/dev/null; rm -rf "$work"' EXIT

cargo build -q --release -p evident
target=${CARGO_TARGET_DIR:-target}
if [ -d "$ARG" ]; then
  # A real history: a bare copy holding only branches and tags, as evident mirrors them.
  git init -q --bare "$work/repo.git"
  git -C "$work/repo.git" fetch -q "file://$(cd "$ARG" && pwd)" '+refs/heads/*:refs/heads/*' '+refs/tags/*:refs/tags/*'
else
  cargo build -q --release -p evident-git --example genrepo
  "$target/release/examples/genrepo" "$work/repo.git" "$ARG" >/dev/null
fi
# Serve partial clones as GitHub and GitLab do; evident's mirrors fetch commits only.
git -C "$work/repo.git" config uploadpack.allowFilter true
seconds() { local s=$(date +%s.%N); "$@" >/dev/null 2>&1; echo "$(date +%s.%N) - $s" | bc; }

echo "repository: $ARG ($(git -C "$work/repo.git" rev-list --all | wc -l) commits reachable from branches and tags)"
t_clone=$(seconds git clone -q --bare "file://$work/repo.git" "$work/baseline.git")
t_log=$(seconds git -C "$work/baseline.git" log --all --format='%H%x00%P%x00%an%x00%ae%x00%at%x00%cn%x00%ce%x00%ct%x00%B')
echo "git clone --bare:                 ${t_clone}s"
echo "git log --all (all fields):       ${t_log}s"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
host=http://127.0.0.1:$port
EVIDENT_BOOTSTRAP_TOKEN=$TOKEN EVIDENT_LOG=${EVIDENT_LOG:-info} "$target/release/evident" server \
  --db "sqlite://$work/evident.db" --bind "127.0.0.1:$port" --mirrors-dir "$work/mirrors" \
  --git-allow-file --refresh-interval 0 >/dev/null 2>"$work/server.log" &
server=$!
for _ in $(seq 100); do curl -sf "$host/readyz" >/dev/null && break; sleep 0.1; done
auth=(-H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json")
curl -sf "${auth[@]}" -d '{"name":"bench"}' "$host/api/v1/orgs" >/dev/null
t_add=$(seconds curl -sf "${auth[@]}" -d "{\"name\":\"r\",\"url\":\"file://$work/repo.git\"}" "$host/api/v1/orgs/bench/repos")
echo "evident repo add (clone+index):   ${t_add}s"
count=$(curl -sf "${auth[@]}" "$host/api/v1/orgs/bench/repos/r" | python3 -c 'import json,sys; print(json.load(sys.stdin)["commits"])')
echo "indexed commits:                  $count"
# The server logs how long the clone took within the add; the rest is listing and storing.
grep -m1 "refreshed" "$work/server.log" | sed -E 's/.*clone_or_open_ms=([0-9]+) listed_ms=([0-9]+).*/\1 \2/' |
  while read -r clone listed; do
    echo "  of which clone (commits only):  $(echo "scale=3; $clone/1000" | bc)s"
    echo "  of which list + store:          $(echo "scale=3; ($listed-$clone)/1000" | bc)s (git log: ${t_log}s)"
  done
echo "first page after the add:         $(seconds curl -sf "${auth[@]}" "$host/api/v1/orgs/bench/repos/r/commits?per_page=10")s"
# After the first index the server writes the mirror's commit-graph in the background; a
# refresh minutes later finds it there, so wait for it rather than measure the two at once.
graph_written=$(date +%s.%N)
for _ in $(seq 200); do
  compgen -G "$work/mirrors/*.git/objects/info/commit-graphs/commit-graph-chain" >/dev/null && break
  sleep 0.05
done
echo "commit-graph written in background: $(echo "$(date +%s.%N) - $graph_written" | bc)s after the first page"

# Ten new commits on the main branch, as a push would bring.
branch=main
git -C "$work/repo.git" rev-parse -q --verify refs/heads/main >/dev/null || branch=master
for i in $(seq 10); do
  tree=$(git -C "$work/repo.git" rev-parse "$branch^{tree}")
  c=$(git -C "$work/repo.git" -c user.name=b -c user.email=b@x commit-tree "$tree" -p "$branch" -m "new $i")
  git -C "$work/repo.git" update-ref "refs/heads/$branch" "$c"
done
t_fetch=$(seconds git -C "$work/baseline.git" fetch -q origin '+refs/heads/*:refs/heads/*')
t_refresh=$(seconds curl -sf -X POST "${auth[@]}" "$host/api/v1/orgs/bench/repos/r/refresh")
t_visible=$(seconds curl -sf "${auth[@]}" "$host/api/v1/orgs/bench/repos/r/commits?per_page=10")
echo "git fetch (10 new commits):       ${t_fetch}s"
echo "evident refresh (fetch+index):    ${t_refresh}s"
echo "first page after the refresh:     ${t_visible}s (new commits served)"

url="$host/api/v1/orgs/bench/repos/r/commits?page=3&per_page=100"
curl -sf "${auth[@]}" "$url" -o "$work/page.json"
echo "100-commit page:                  $(stat -c %s "$work/page.json") bytes"
wrk -t2 -c16 -d10s -H "Authorization: Bearer $TOKEN" "$url" | grep -E 'Requests/sec|Latency|Non-2xx' || true
echo "server RSS after the load:        $(grep VmRSS /proc/$server/status | awk '{print $2/1024 " MB"}')"
echo "server peak RSS (incl. indexing): $(grep VmHWM /proc/$server/status | awk '{print $2/1024 " MB"}')"
