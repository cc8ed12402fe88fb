#!/usr/bin/env bash
# compose_smoke.sh — the docker compose deployment, end to end, on a real engine.
#
#   scripts/compose_smoke.sh            (from anywhere inside the repository)
#
# 1. starts a Docker engine with ../shared/tools/docker-here.sh (beside the
#    checkout; BACKPROP_DOCKER_TOOLS overrides) and fails, saying why, if it
#    cannot: this check is never skipped silently;
# 2. builds the image; brings the stack up under a unique compose project
#    name, on a free port of 127.0.0.1, and waits for the API to be healthy;
# 3. trains XOR over HTTP to `succeeded`, checks the loss curve, the weights
#    and the predictions;
# 4. scales to 3 workers, runs 9 jobs to completion and checks that every job
#    was claimed exactly once and that more than one worker did the work;
# 5. stops the stack while a long job is running and checks that every
#    worker exited 0 (SIGTERM handled, job handed back);
# 6. `down` (keeping the volume), `up` again: the old jobs are still there and
#    the interrupted job resumes and succeeds with exactly one metric row per
#    epoch;
# 7. always (trap, also on failure or Ctrl-C) removes the project's containers,
#    network, volume and image, and stops the engine if this script started it.
#
# Environment: SMOKE_PORT (default: a free port), SMOKE_KEEP_IMAGE=1 keeps the
# built image, SMOKE_TIMEOUT seconds per wait (default 240).
set -euo pipefail

START=$(date +%s)
ROOT=$(git -C "$(dirname "$0")" rev-parse --show-toplevel 2>/dev/null || (cd "$(dirname "$0")/.." && pwd))
TOOLS=${BACKPROP_DOCKER_TOOLS:-$ROOT/../shared/tools}
PROJECT="backprop-smoke-$(date +%s)-$$"
IMAGE="backprop-smoke:$PROJECT"
TIMEOUT=${SMOKE_TIMEOUT:-240}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

say() { printf '[smoke %4ss] %s\n' "$(($(date +%s) - START))" "$*"; }
fail() { printf '[smoke] FAIL: %s\n' "$*" >&2; exit 1; }

# ---- 1. the engine ---------------------------------------------------------------
[ -f "$TOOLS/docker-here.sh" ] ||
  fail "cannot start a Docker engine: $TOOLS/docker-here.sh not found (set BACKPROP_DOCKER_TOOLS)"
[ -f "$TOOLS/compose.host.yml" ] || fail "$TOOLS/compose.host.yml not found"
ENGINE_WAS_UP=0
docker info >/dev/null 2>&1 && ENGINE_WAS_UP=1
say "starting the Docker engine ($TOOLS/docker-here.sh up)"
if ! bash "$TOOLS/docker-here.sh" up >"$WORK/docker-here.log" 2>&1; then
  cat "$WORK/docker-here.log" >&2
  fail "the Docker engine could not start (docker-here.sh up failed; log above)"
fi
docker info >/dev/null 2>&1 || fail "docker-here.sh up returned but 'docker info' fails"
docker compose version >/dev/null 2>&1 || fail "the docker compose plugin is missing"

PORT=${SMOKE_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
BASE="http://127.0.0.1:$PORT"
export BACKPROP_IMAGE="$IMAGE" BACKPROP_API_PORT="$PORT" BACKPROP_API_HOST=127.0.0.1 \
  BACKPROP_PUBLISH_ADDRESS=127.0.0.1 BACKPROP_CHECKPOINT_SECONDS=1 BACKPROP_LOG_LEVEL=info
COMPOSE=(docker compose -p "$PROJECT" -f "$ROOT/docker-compose.yml" -f "$TOOLS/compose.host.yml")

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ "$rc" -ne 0 ]; then
    echo "[smoke] --- state at failure ---" >&2
    "${COMPOSE[@]}" ps -a >&2 2>&1 || true
    "${COMPOSE[@]}" logs --no-color --tail 60 >&2 2>&1 || true
  fi
  say "cleaning up project $PROJECT"
  "${COMPOSE[@]}" down --volumes --remove-orphans --timeout 60 >/dev/null 2>&1 || true
  [ "${SMOKE_KEEP_IMAGE:-0}" = 1 ] || docker image rm -f "$IMAGE" "$IMAGE-build" >/dev/null 2>&1 || true
  if [ "$ENGINE_WAS_UP" = 0 ]; then bash "$TOOLS/docker-here.sh" down >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
  if [ "$rc" -eq 0 ]; then
    say "PASSED in $(($(date +%s) - START)) s"
  else
    echo "[smoke] FAILED (exit $rc) after $(($(date +%s) - START)) s" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# HTTP checks in Python (stdlib only): scripts/compose_smoke_client.py.
client() { SMOKE_TIMEOUT="$TIMEOUT" python3 "$ROOT/scripts/compose_smoke_client.py" "$BASE" "$@"; }

up() {
  # `up --wait` would refuse the worker (no healthcheck: nothing to probe), so
  # wait here: the API's healthcheck passes and every container is running.
  "${COMPOSE[@]}" up -d "$@" >"$WORK/up.log" 2>&1 ||
    { cat "$WORK/up.log" >&2; fail "docker compose up failed"; }
  local deadline=$(($(date +%s) + TIMEOUT)) health running total
  while :; do
    health=$(docker inspect -f '{{.State.Health.Status}}' "$("${COMPOSE[@]}" ps -q api)" 2>/dev/null || true)
    running=$("${COMPOSE[@]}" ps --status running -q | wc -l)
    total=$("${COMPOSE[@]}" ps -a -q | wc -l)
    [ "$health" = healthy ] && [ "$running" = "$total" ] && [ "$total" -ge 2 ] && break
    [ "$(date +%s)" -lt "$deadline" ] ||
      fail "stack not ready after $TIMEOUT s (api $health, $running of $total containers running)"
    sleep 1
  done
}

# ---- 2. build and start ----------------------------------------------------------
say "building $IMAGE"
BUILD_START=$(date +%s)
# The build stage is tagged too (then the final build reuses it from the cache),
# so that cleanup can remove it instead of leaving a dangling image behind.
{ docker build --network=host --target build -t "$IMAGE-build" "$ROOT" &&
  docker build --network=host -t "$IMAGE" "$ROOT"; } >"$WORK/build.log" 2>&1 ||
  { tail -40 "$WORK/build.log" >&2; fail "docker build failed"; }
SIZE=$(docker image inspect -f '{{.Size}}' "$IMAGE")
say "built in $(($(date +%s) - BUILD_START)) s; image size $((SIZE / 1000000)) MB ($SIZE bytes)"

say "up: project $PROJECT, API on $BASE"
up
say "healthy: $(client health)"
MIGRATIONS=$("${COMPOSE[@]}" logs --no-color api | grep -c "database at head" || true)
[ "$MIGRATIONS" = 1 ] || fail "expected the api to migrate once, saw $MIGRATIONS 'database at head'"
# The engine's fused SGD step calls the OpenBLAS inside NumPy's wheel; an image that lost
# it (a slimmed venv, another NumPy build) would train correctly but slower: say so here.
"${COMPOSE[@]}" exec -T worker python -c "from app.nn import blas; assert blas.direct()" ||
  fail "the worker image's engine cannot call NumPy's BLAS directly (app/nn/blas.py)"
say "worker engine calls NumPy's OpenBLAS directly"

# ---- 3. one job over HTTP -------------------------------------------------------
FIRST=$(client train-one)
say "trained XOR: job $FIRST succeeded; metrics, weights and predictions check out"

# ---- 4. three workers, nine jobs -------------------------------------------------
up --scale worker=3
WORKERS=$("${COMPOSE[@]}" ps -q worker | wc -l)
[ "$WORKERS" = 3 ] || fail "expected 3 worker containers, found $WORKERS"
mapfile -t NINE < <(client submit smoke-nine 9 200)
[ "${#NINE[@]}" = 9 ] || fail "submitted ${#NINE[@]} jobs, expected 9"
client wait 200 "${NINE[@]}"
"${COMPOSE[@]}" logs --no-color worker >"$WORK/workers.log" 2>&1
for job in "${NINE[@]}"; do
  CLAIMS=$(grep -c "job $job: claimed" "$WORK/workers.log" || true)
  [ "$CLAIMS" = 1 ] || fail "job $job was claimed $CLAIMS times (expected exactly 1)"
done
BUSY=$(grep -E "job ($(IFS='|'; echo "${NINE[*]}")): claimed" "$WORK/workers.log" |
  awk '{print $1}' | sort -u | wc -l)
[ "$BUSY" -ge 2 ] || fail "only $BUSY worker container(s) ran the 9 jobs"
say "3 workers: 9 jobs succeeded, each claimed exactly once, spread over $BUSY workers"

# ---- 5. stop while a job runs ----------------------------------------------------
LONG=$(client submit smoke-long 1 4000)
client wait-running "$LONG"
say "long job $LONG is running ($(client status "$LONG")); stopping the stack"
STOP_START=$(date +%s)
"${COMPOSE[@]}" stop --timeout 60 >/dev/null 2>&1
for container in $("${COMPOSE[@]}" ps -a -q worker); do
  read -r CODE KILLED < <(docker inspect -f '{{.State.ExitCode}} {{.State.OOMKilled}}' "$container")
  [ "$CODE" = 0 ] && [ "$KILLED" = false ] ||
    fail "worker $container exited $CODE (OOMKilled=$KILLED), expected a clean 0"
done
"${COMPOSE[@]}" logs --no-color worker >"$WORK/workers.log" 2>&1
grep -q "SIGTERM received" "$WORK/workers.log" || fail "no worker logged the SIGTERM"
say "stopped in $(($(date +%s) - STOP_START)) s: all 3 workers exited 0 after SIGTERM"

# ---- 6. down (volume kept), up again ---------------------------------------------
"${COMPOSE[@]}" down --timeout 60 >/dev/null 2>&1
up --scale worker=3
KNOWN=$(client list)
for job in "$FIRST" "${NINE[@]}" "$LONG"; do
  grep -qx "$job" <<<"$KNOWN" || fail "job $job is gone after down/up"
done
client wait 200 "${NINE[@]}"
read -r STATUS EPOCH < <(client status "$LONG")
say "after down/up: all 11 jobs are there; the long job is $STATUS at epoch $EPOCH"
client wait 4000 "$LONG"
say "the interrupted job resumed and succeeded: 4000 epochs, one metric row each"
