#!/usr/bin/env bash
# Replays deploy/Dockerfile without a Docker engine and checks the result, because none runs here or in CI:
#   1. the build context, filtered by .dockerignore;
#   2. the build stage: a fresh venv and a NON-editable `pip install -c requirements.lock .`;
#   3. the final stage: its COPY and RUN steps (airports store built, self-test) with its ENV;
#   4. its CMD (`locator serve`) on a free port on 127.0.0.1 with the image tree mounted read-only when
#      this machine allows it (root and unshare), otherwise checked afterwards for writes;
#   5. its HEALTHCHECK command, /readyz "ready", GeoIP and airports answers; then SIGTERM and a clean exit.
# Everything lives in a temporary directory, removed at the end. Needs python3.11 (or PYTHON) and PyPI.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
DOCKERFILE=${DOCKERFILE:-$REPO/deploy/Dockerfile}  # another one to try a change
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/locator-image.XXXXXX")
CONTEXT=$WORK/context
ROOT=$WORK/image  # stands in for the image's root file system: /opt/venv, /app, /src
SERVER_PID=
helper() { "$PYTHON" "$REPO/deploy/imagecheck.py" "$@"; }
lines() { local text; text=$(helper "$@"); printf '%s\n' "$text"; }  # fails the script when helper fails
step() { printf '\n== %s\n' "$*"; }
cleanup() {
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then kill "$SERVER_PID"; fi
    chmod -R u+w "$WORK" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
    || echo "warning: $PYTHON is not Python 3.11, the image's version"

step "build context (.dockerignore)"
helper context "$REPO" "$CONTEXT"

step "build stage: venv and non-editable install"
helper copy "$DOCKERFILE" build "$CONTEXT" "$ROOT"
"$PYTHON" -m venv "$ROOT/opt/venv"
(cd "$ROOT/src" && PIP_DISABLE_PIP_VERSION_CHECK=1 "$ROOT/opt/venv/bin/pip" install --quiet --no-cache-dir \
    -c requirements.lock .)
installed=$(cd / && "$ROOT/opt/venv/bin/python" -c 'import locator; print(locator.__file__)')
case $installed in
    "$ROOT/opt/venv/"*) echo "locator installed at $installed" ;;
    *) echo "FAIL: locator imported from $installed, not from the venv's site-packages"; exit 1 ;;
esac
rm -rf "$ROOT/src"  # the final stage has no /src: prove nothing depends on it

step "final stage: COPY, ENV, RUN"
helper copy "$DOCKERFILE" final "$CONTEXT" "$ROOT"
mapfile -t IMAGE_ENV <<<"$(lines env "$DOCKERFILE" "$ROOT")"
printf '%s\n' "${IMAGE_ENV[@]}" | grep '^LOCATOR_'
helper run "$DOCKERFILE" "$ROOT"

step "serve: CMD with the image's environment"
PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
RUN_ENV=("${IMAGE_ENV[@]}" LOCATOR_HOST=127.0.0.1 "LOCATOR_PORT=$PORT")
mapfile -t CMD <<<"$(lines cmd "$DOCKERFILE")"
cd "$ROOT$(helper workdir "$DOCKERFILE")"  # the final WORKDIR, not this checkout: nothing imports from here
before=$(helper snapshot "$ROOT")
chmod -R a-w "$ROOT"
if [[ $(id -u) == 0 ]] && unshare --mount --propagation private true 2>/dev/null; then
    echo "image tree mounted read-only in a private mount namespace"
    # shellcheck disable=SC2016  # $1 and $@ are the inner shell's arguments
    unshare --mount --propagation private sh -c \
        'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"' \
        sh "$ROOT" env -i "${RUN_ENV[@]}" "${CMD[@]}" &
else
    echo "image tree made read-only with chmod (cannot mount here); writes are detected afterwards"
    env -i "${RUN_ENV[@]}" "${CMD[@]}" &
fi
SERVER_PID=$!
up=
for _ in $(seq 1 150); do
    if "$PYTHON" -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$PORT/healthz', timeout=1)" 2>/dev/null
    then up=yes; break; fi
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "FAIL: locator serve exited during start-up"; exit 1; }
    sleep 0.2
done
[[ -n $up ]] || { echo "FAIL: locator serve did not answer /healthz within 30 s"; exit 1; }

step "checks"
mapfile -t HEALTHCHECK <<<"$(lines healthcheck "$DOCKERFILE")"
env -i "${RUN_ENV[@]}" "${HEALTHCHECK[@]}"
echo "HEALTHCHECK command: exit 0"
helper probe "http://127.0.0.1:$PORT"

step "stop"
kill -TERM "$SERVER_PID"
status=0
wait "$SERVER_PID" || status=$?
SERVER_PID=
# uvicorn shuts down gracefully, then re-raises SIGTERM so that its status says why it stopped: 143.
[[ $status == 0 || $status == 143 ]] || { echo "FAIL: locator serve exited with status $status on SIGTERM"; exit 1; }
echo "locator serve shut down on SIGTERM (status $status)"
chmod -R u+w "$ROOT"
after=$(helper snapshot "$ROOT")
[[ $before == "$after" ]] || { echo "FAIL: serving wrote into the image tree"; exit 1; }
echo "nothing written into the image tree while serving"

printf '\nPASS: the Dockerfile steps build a working, read-only image tree\n'
