#!/usr/bin/env bash
# The floor stack, tested: the unit tests and every chapter's committed notebook on the oldest
# versions pyproject.toml allows (constraints/floor.txt, Google Colab's 2025 stack).
#
#   bash scripts/floor_check.sh
#
# 1. Builds a fresh .venv-floor (Python 3.12 when there is one, as on Colab) with the floor
#    stack and the test tools at their requirements.txt pins; no myst-nb, as on Colab. uv
#    installs them (hard links from its cache: seconds, where pip takes minutes to unpack
#    TensorFlow again).
# 2. Installs the package as a Colab reader does, `pip install .` without constraints, and
#    fails if that changed any floor version (Colab's TensorFlow and Keras must stay).
# 3. Runs the unit tests that exercise the stack: every tests/test_*.py that imports the package
#    or a library of the stack, and tests/test_floor.py (tests of features newer than the floor
#    skip with a reason). Checks of text and tooling (ruff, the book's wiring, workflows, the
#    browser test) do not depend on the stack and need tools Colab lacks: the main run has them.
# 4. Executes every chapter's book/*.ipynb, each in a fresh kernel, two at a time
#    (scripts/run_notebooks.py).
# Exits non-zero when any step fails. Set FLOOR_PYTHON to choose the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-floor
LOG=$VENV/install.log
FLOOR=constraints/floor.txt
TOOLS="pytest nbval hypothesis jupytext nbformat nbclient ipykernel PyYAML"
UV=uv==0.13.9
start=$SECONDS

works() { [ -n "$1" ] && "$1" -c 'import sys, venv; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; }
python=""
for candidate in "${FLOOR_PYTHON:-}" python3.12 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3.12 python3; do
    if works "$candidate"; then python=$candidate; break; fi
done
[ -n "$python" ] || { echo "floor check: no Python >= 3.10 found" >&2; exit 1; }

# The test tools at exactly the versions requirements.txt pins.
pins=()
for tool in $TOOLS; do
    pin=$(grep -iE "^${tool}==" requirements.txt) || { echo "floor check: requirements.txt pins no $tool" >&2; exit 1; }
    pins+=("$pin")
done

fail_install() { echo "floor check: $1 failed; the end of $LOG:" >&2; tail -n 30 "$LOG" >&2; exit 1; }

# --- 1. the floor environment -----------------------------------------------------------------
echo "floor check: building $VENV with $("$python" --version) from $FLOOR"
rm -rf "$VENV"
"$python" -m venv "$VENV"
: >"$LOG"
"$VENV/bin/python" -m pip install "$UV" >>"$LOG" 2>&1 || fail_install "pip install $UV"
"$VENV/bin/uv" pip install --native-tls --python "$VENV/bin/python" \
    -r "$FLOOR" "${pins[@]}" -c "$FLOOR" >>"$LOG" 2>&1 || fail_install "installing the floor stack"
PY=$VENV/bin/python

# --- 2. the package, installed as on Colab ------------------------------------------------------
"$PY" -m pip install . >>"$LOG" 2>&1 || fail_install "pip install ."
"$PY" - "$FLOOR" <<'EOF'
import re
import sys
from importlib.metadata import version

pins = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", open(sys.argv[1]).read(), re.MULTILINE)
changed = [f"{name} {want} -> {version(name)}" for name, want in pins if version(name) != want]
if changed:
    sys.exit("floor check: `pip install .` changed the floor stack: " + ", ".join(changed))
print("floor check: `pip install .` kept " + ", ".join(f"{n} {v}" for n, v in pins))
EOF
install_s=$((SECONDS - start))

# --- 3. unit tests ----------------------------------------------------------------------------
tests_start=$SECONDS
stack='^(from|import) (companion|keras|keras_tuner|tensorflow|numpy|scipy|sklearn|matplotlib|pandas)\b'
mapfile -t stack_tests < <({ grep -lE "$stack" tests/test_*.py; echo tests/test_floor.py; } | sort -u)
left=$(ls tests/test_*.py | grep -vxF -f <(printf '%s\n' "${stack_tests[@]}") | xargs -r -n1 basename | tr '\n' ' ')
echo "floor check: ${#stack_tests[@]} test files use the stack; left to the main run: ${left:-none}"
tests_rc=0
"$PY" -m pytest -q -rs --disable-warnings "${stack_tests[@]}" || tests_rc=$?
tests_s=$((SECONDS - tests_start))

# --- 4. every chapter's notebook, two at a time (a kernel keeps about one core busy) ------
nb_start=$SECONDS
nb_rc=0
"$PY" scripts/run_notebooks.py --jobs 2 || nb_rc=$?
nb_s=$((SECONDS - nb_start))

status() { if [ "$1" -eq 0 ]; then echo ok; else echo "FAILED (exit $1)"; fi; }
echo "floor check summary ($("$PY" --version), $FLOOR):"
echo "  install    ${install_s} s  ok"
echo "  unit tests ${tests_s} s  $(status $tests_rc)"
echo "  notebooks  ${nb_s} s  $(status $nb_rc)"
echo "  total      $((SECONDS - start)) s"
[ "$tests_rc" -eq 0 ] && [ "$nb_rc" -eq 0 ]
