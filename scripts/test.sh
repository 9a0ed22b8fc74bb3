#!/usr/bin/env bash
# Runs the whole test suite, including the suites against a real redis-server that the tests
# start themselves. Installs what is missing (libxxhash-dev, xxhash, redis-server, jq,
# postgresql for the PostgresBlobStore suites) and the shared Python environment (moto[server]
# for the S3BlobStore suites: scripts/python-env.sh, .build/venv).
# Warnings in Spillway's own targets are errors here.
#
# Order, chosen for a 2-core machine: build the package and its tests once; then run the tests
# (which mostly wait on servers) while the example package builds in the background in its own
# scratch folder (the build plugin with a valid and an invalid policy file); then check that the
# plugin's tool still reaches none of the heavy modules, and the formatting.
set -euo pipefail
cd "$(dirname "$0")/.."
# The build needs only libxxhash's header and pkg-config; the servers and tools the tests start
# are installed while the package builds (one apt at a time: the second call starts after the
# first has finished).
scripts/deps.sh libxxhash-dev pkg-config
servers_log=$(mktemp)
scripts/deps.sh xxhash redis-server redis-tools jq postgresql >"$servers_log" 2>&1 &
servers=$!
export SPILLWAY_WARNINGS_AS_ERRORS=1
# The shared Python virtual environment (pip only when scripts/requirements-test.txt changed),
# made while the package builds. The Swift suites need it too (moto_server for S3BlobStore), so
# it is waited for before `swift test`; suites that need it fail if it is missing.
export SPILLWAY_VENV=${SPILLWAY_VENV:-$PWD/.build/venv}
venv_log=$(mktemp)
scripts/python-env.sh >"$venv_log" 2>&1 &
venv=$!
swift build --build-tests
venv_ok=1
wait "$venv" || venv_ok=0
if ! wait "$servers"; then
    cat "$servers_log" >&2
    echo "FAIL: scripts/deps.sh could not install the test servers" >&2
    exit 1
fi
command -v redis-server >/dev/null || { echo "redis-server is required and could not be installed" >&2; exit 1; }

example_log=$(mktemp)
deps_log=$(mktemp)
scripts/build-example.sh >"$example_log" 2>&1 &
example=$!
scripts/check-plugin-deps.sh >"$deps_log" 2>&1 &
deps=$!
trap 'kill "$example" "$deps" 2>/dev/null || true; rm -f "$example_log" "$deps_log" "$venv_log" "$servers_log"' EXIT

tests=0
swift test --skip-build || tests=$?

# `spillway proxy` behind real clients we did not write (redis-py, Django + django-redis, DRF,
# Celery with a worker), against a real redis-server; the binary is the one just built.
python_tests=0
if [ $venv_ok -eq 1 ]; then
    "$SPILLWAY_VENV/bin/python" -m pytest -q -p no:cacheprovider Tests/ProxyPython || python_tests=$?
else
    cat "$venv_log" >&2
    echo "FAIL: scripts/python-env.sh could not make $SPILLWAY_VENV" >&2
    python_tests=1
fi

# The example package: the build-tool plugin compiles a valid policy file, and an invalid one
# must fail `swift build` with file:line errors.
built=0
wait "$example" || built=$?
echo "== scripts/build-example.sh" >&2
cat "$example_log" >&2

checks=0
wait "$deps" || checks=1
cat "$deps_log" >&2
scripts/format.sh --check || checks=1

if [ $tests -ne 0 ] || [ $python_tests -ne 0 ] || [ $built -ne 0 ] || [ $checks -ne 0 ]; then
    echo "FAIL: swift test exited $tests, pytest (Tests/ProxyPython) $python_tests, scripts/build-example.sh $built, checks $checks" >&2
    exit 1
fi
echo "OK: every test passed, the example built, the plugin's tool is light, the code is formatted" >&2
