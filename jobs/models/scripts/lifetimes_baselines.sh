#!/bin/sh
# Runs lifetimes_baselines.py in a virtual environment with lifetimes 0.11.3, created on
# first use in the git-ignored .cache/venv-lifetimes (from PyPI; numpy, scipy and pandas
# pinned to versions lifetimes 0.11.3 runs with). Arguments go to the script, e.g.
#   jobs/models/scripts/lifetimes_baselines.sh --transactions .cache/datasets/CDNOW_sample.txt \
#       --format cdnow --calibration-end 1997-09-30 --holdout-end 1998-06-30
set -eu
root=$(cd "$(dirname "$0")/../../.." && pwd)
venv="$root/.cache/venv-lifetimes"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import lifetimes" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "lifetimes==0.11.3" "numpy==1.26.4" "scipy==1.11.4" "pandas==2.1.4" \
        "autograd==1.6.2" "dill==0.4.1" "pyarrow==15.0.2"
fi
exec "$venv/bin/python" "$(dirname "$0")/lifetimes_baselines.py" "$@"
