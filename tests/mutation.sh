#!/usr/bin/env bash
# Mutation testing of minitwit/resolvers/ and minitwit/rest_compat/ with mutmut, on the fast
# in-process tests (SQLite, no browser, no server process; [tool.mutmut] in pyproject.toml).
# Works on a fresh clone: it makes .venv if needed and installs the `mutation` extra.
# Prints the score and writes the surviving mutants to mutants/survivors.txt; tests/MUTATION.md
# records the last score and why each survivor survives. CPU-heavy: it runs at nice 19.
#
#   tests/mutation.sh                 # everything (see tests/MUTATION.md for how long it took)
#   MUTMUT_CHILDREN=1 tests/mutation.sh
#   tests/mutation.sh "minitwit.resolvers.social.*"   # only the mutants matching these patterns
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q -c constraints.txt -e '.[test,mutation]'
# The mutants run in process: nothing may require PostgreSQL, a browser or the shared data.
unset MINITWIT_REQUIRE_PG MINITWIT_REQUIRE_BROWSER MINITWIT_REQUIRE_SHARED PYTEST_ADDOPTS
rm -rf mutants
set +e
nice -n 19 .venv/bin/mutmut run --max-children "${MUTMUT_CHILDREN:-2}" "$@"
status=$?
set -e
.venv/bin/mutmut results > mutants/survivors.txt || true
.venv/bin/python tests/mutation_score.py
exit "$status"
