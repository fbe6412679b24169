#!/usr/bin/env bash
# Run this example project's tests as a client project runs them: a fresh virtual environment in
# a temporary directory, perps-sim installed from this checkout (not editable, pinned by the
# repository's constraints.txt), pytest started here, so the plugin comes from the package's
# entry point and nothing imports the repository's code or tests. Arguments go to pytest.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/perps-sim-example.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# build from a copy: setuptools leaves build/ in the tree it builds, and reuses what it finds there
mkdir "$work/src"
tar -C "$root" --exclude='./.*' --exclude=./build --exclude=./dist --exclude='*.egg-info' \
    --exclude=__pycache__ -cf - . | tar -C "$work/src" -xf -
"${PYTHON:-python3}" -m venv "$work/venv"
pip=("$work/venv/bin/pip" install --quiet --disable-pip-version-check -c "$root/constraints.txt")
"${pip[@]}" "$work/src" pytest httpx websockets cryptography
# kalshi-sdk declares Python >= 3.12 but runs on 3.11
"${pip[@]}" --ignore-requires-python kalshi-sdk==22.4.0

cd "$here"
"$work/venv/bin/python" -m pytest -p no:cacheprovider "$@"
