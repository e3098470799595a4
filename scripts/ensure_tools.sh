#!/usr/bin/env bash
# Make sure the programs the tests drive are on PATH: curl (the end-to-end redirect test), kubectl (its
# built-in kustomize renders deploy/k8s) and the data-transfer clients (scripts/clients.py). A missing one is
# installed from Debian's packages when we may (root with apt-get); otherwise this stops with what to install,
# rather than letting tests skip. A package that brings no program of its own (a plugin) is named as
# `-:package` and checked with dpkg.
#   usage: scripts/ensure_tools.sh program:debian-package ... -:debian-package ...
set -euo pipefail
missing=()
for pair in "$@"; do
    program=${pair%%:*} package=${pair#*:}
    if [ "$program" = "-" ]; then
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$program:$package")
    else
        command -v "$program" >/dev/null 2>&1 || missing+=("$program:$package")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
packages=("${missing[@]#*:}")
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure_tools: installing ${packages[*]} (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
else
    echo "ensure_tools: the tests need ${missing[*]%%:*}; install the Debian package(s) ${packages[*]}" >&2
    exit 1
fi
for pair in "${missing[@]}"; do
    program=${pair%%:*} package=${pair#*:}
    if [ "$program" = "-" ]; then
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" \
            || { echo "ensure_tools: package $package still missing" >&2; exit 1; }
    else
        command -v "$program" >/dev/null 2>&1 || { echo "ensure_tools: $program still missing" >&2; exit 1; }
    fi
done
