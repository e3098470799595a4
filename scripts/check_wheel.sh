#!/usr/bin/env bash
# The package as a user installs it: build the wheel, install it into a fresh venv (runtime dependencies only,
# at the versions of requirements.lock: no pandas, no matplotlib, the venv at most 250 MB), make the installed
# package read-only, and from an empty directory run `locator serve` (it must answer /nearest and /readyz with the
# embedded data) and `locator evaluate` (one line naming the extra it needs); then with the extra [evaluation],
# `python -m evaluation reproduce-2022` (its study data is inside the wheel too). CI runs it (`make wheel-check`).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/locator-wheel.XXXXXX")
SERVER_PID=
cleanup() {
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then kill "$SERVER_PID"; wait "$SERVER_PID" || true; fi
    chmod -R u+w "$WORK" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
step() { printf '\n== %s\n' "$*"; }

step "build the wheel"
"$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir "$WORK/dist" "$REPO"
WHEEL=$(ls "$WORK"/dist/*.whl)
echo "$WHEEL"
"$PYTHON" - "$WHEEL" <<'EOF'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
wanted = ["locator_data/caches.csv", "locator_data/namespaces.csv", "locator_data/airports.csv",
          "locator_data/overrides.csv", "locator_data/evaluation/2022/observations.csv", "locator_data/maps/LICENSE"]
missing = [name for name in wanted if name not in names]
unwanted = [name for name in names if name.endswith(".sqlite") or name.startswith("locator_data/sources/")]
print(f"{len(names)} files; data: {sum(n.startswith('locator_data/') for n in names)}")
sys.exit(f"missing from the wheel: {missing}" if missing else f"must not ship: {unwanted}" if unwanted else 0)
EOF

step "install it into a fresh venv, runtime dependencies only"
"$PYTHON" -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install --quiet --disable-pip-version-check -c "$REPO/requirements.lock" "$WHEEL"
"$WORK/venv/bin/python" - "$WORK/venv" <<'EOF'
import importlib.util, pathlib, sys
heavy = [name for name in ("pandas", "matplotlib", "_maxminddb_geolite2", "nbclient") if importlib.util.find_spec(name)]
size = sum(p.stat().st_size for p in pathlib.Path(sys.argv[1]).rglob("*") if p.is_file()) / 1e6
print(f"runtime venv: {size:.0f} MB; extras' packages installed: {heavy or 'none'}")
sys.exit(f"FAIL: the runtime brings {heavy}" if heavy else "FAIL: the runtime venv is over 250 MB" if size > 250 else 0)
EOF
SITE=$("$WORK/venv/bin/python" -c 'import locator_data, pathlib; print(pathlib.Path(locator_data.__file__).parent)')
case $SITE in "$WORK/venv/"*) echo "data installed at $SITE" ;; *) echo "FAIL: data imported from $SITE"; exit 1 ;; esac
chmod -R a-w "$SITE"  # as a system-wide install would be: the airports store must go elsewhere

mkdir "$WORK/empty" && cd "$WORK/empty"
export XDG_CACHE_HOME="$WORK/cache" LOCATOR_HEALTH_INTERVAL_S=0  # probing real caches needs the internet

step "locator serve from an empty directory"
PORT=$("$WORK/venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
LOCATOR_PORT=$PORT "$WORK/venv/bin/locator" serve 2>"$WORK/serve.log" &
SERVER_PID=$!
"$WORK/venv/bin/python" - "$PORT" <<'EOF'
import json, sys, time, urllib.request
base = f"http://127.0.0.1:{sys.argv[1]}"
for _ in range(150):
    try:
        ready = json.load(urllib.request.urlopen(base + "/readyz", timeout=2))
        break
    except OSError:
        time.sleep(0.2)
else:
    sys.exit("FAIL: locator serve did not answer within 30 s")
nearest = json.load(urllib.request.urlopen(base + "/nearest?ip=129.93.1.1&n=2", timeout=5))
geo = urllib.request.urlopen(base + "/api/v1.0/geo/129.93.1.1/osdf1.chic.nrp.internet2.edu,unl-cache.nationalresearchplatform.org", timeout=5).read().decode()
print(f"/readyz: {ready['status']}, {ready['caches_in_service']} caches, {ready['namespaces']} namespaces, "
      f"{ready['airports']} airports, GeoIP {ready['geoip']['database_type']} built {ready['geoip']['built']}, degraded {ready['degraded']}")
print(f"/nearest?ip=129.93.1.1: {nearest['method']} -> {[c['name'] for c in nearest['caches']]}")
print(f"/api/v1.0/geo/129.93.1.1/<Chicago>,<Lincoln>: {geo.strip()}")
ok = ready["status"] == "ready" and ready["airports"] > 9000 and nearest["method"] == "geoip" and geo == "2,1\n"
sys.exit(0 if ok else "FAIL: not ready with the embedded data")
EOF
kill "$SERVER_PID"; wait "$SERVER_PID" || true; SERVER_PID=
ls "$XDG_CACHE_HOME"/osdf-cache-locator/ | sed 's/^/airports store built in the user cache directory: /'

step "locator evaluate without the extra: one line naming it"
if "$WORK/venv/bin/locator" evaluate reproduce-2022 2>"$WORK/extra.err"; then echo "FAIL: ran without pandas"; exit 1; fi
cat "$WORK/extra.err"
grep -q "needs the extra \[evaluation\]" "$WORK/extra.err" && [[ $(wc -l < "$WORK/extra.err") -eq 1 ]]

step "with the extra [evaluation]"
chmod -R u+w "$SITE"
"$WORK/venv/bin/pip" install --quiet --disable-pip-version-check -c "$REPO/requirements.lock" "$WHEEL[evaluation]"
chmod -R a-w "$SITE"
step "python -m evaluation reproduce-2022 from an empty directory"
"$WORK/venv/bin/python" -m evaluation reproduce-2022 | tail -1
step "python -m evaluation geo-api from an empty directory"
"$WORK/venv/bin/python" -m evaluation geo-api | tail -1
[[ -z $(ls -A "$WORK/empty") ]] || { echo "FAIL: files written into the working directory"; ls -A "$WORK/empty"; exit 1; }
echo "PASS"
