#!/bin/sh
# Installs Autobahn|Testsuite's fuzzing client (Python 2.7 only) into .autobahn/ for
# tests/test_autobahn.py and `python -m tests.autobahn`. Needs a Python 2.7 (pyenv's, or
# PYTHON27=/path/to/python2.7). virtualenv is run from a Python 3 because the 2.7 of pyenv
# ships without setuptools; PyHamcrest 1.9.0 is the last release that builds on 2.7.
set -eu
cd "$(dirname "$0")/.."
[ -x .autobahn/bin/wstest ] && exit 0  # set up already
PYTHON27=${PYTHON27:-$(ls -d "$HOME"/.pyenv/versions/2.7.*/bin/python 2>/dev/null | tail -n 1)}
if [ -z "$PYTHON27" ] || [ ! -x "$PYTHON27" ]; then
    echo "no Python 2.7 found: set PYTHON27=/path/to/python2.7" >&2
    exit 1
fi
TOOL=$(mktemp -d)
trap 'rm -rf "$TOOL"' EXIT
python3 -m venv "$TOOL/venv"
"$TOOL/venv/bin/pip" install -q 'virtualenv<20.22'
"$TOOL/venv/bin/virtualenv" -q -p "$PYTHON27" .autobahn
.autobahn/bin/pip install -q 'PyHamcrest==1.9.0' 'autobahntestsuite==25.10.1'
.autobahn/bin/wstest --autobahnversion
