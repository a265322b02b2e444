# The conformance suite's Python environment (the aws CLI, boto3, moto), created on first use
# and refreshed when requirements.txt changes. Sourced by run.sh and by .ci/run (which puts
# its bin/ on PATH for `cargo test`, whose docs test drives the aws CLI).
# In: $here (this directory). Out: $venv, $py.
venv="${FERRY_VENV:-$HOME/.cache/ferry/venv}"
stamp="$venv/.ferry-requirements"
if [[ ! -x "$venv/bin/python" ]]; then
    printf 'conformance: creating %s\n' "$venv" >&2
    python3 -m venv "$venv"
fi
if ! cmp -s "$here/requirements.txt" "$stamp" 2>/dev/null; then
    printf 'conformance: installing %s\n' "$here/requirements.txt" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
    cp "$here/requirements.txt" "$stamp"
fi
py="$venv/bin/python"
