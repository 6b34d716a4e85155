#!/usr/bin/env bash
# Makes sure headless Chromium is installed: the report test opens the run report in it.
# Looks at $CHROMIUM if set (as the test does), else /usr/bin/chromium. Installs the
# Debian package when it is missing, as root or through passwordless sudo; otherwise
# says how to get it.
set -euo pipefail

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

if [[ -x "$CHROMIUM" ]]; then
    exit 0
fi

install=(bash -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium')

if [[ $(id -u) -eq 0 ]]; then
    echo "require-chromium.sh: installing chromium (apt-get)" >&2
    "${install[@]}"
elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
    echo "require-chromium.sh: installing chromium (sudo apt-get)" >&2
    sudo -n "${install[@]}"
else
    {
        echo "Missing tools:"
        echo "  - chromium: not found at $CHROMIUM (the report test renders the run report in it);"
        echo "    install it as root with: apt-get install chromium"
        echo "    or point the CHROMIUM environment variable at another Chromium binary."
    } >&2
    exit 1
fi

if [[ ! -x "$CHROMIUM" ]]; then
    echo "require-chromium.sh: chromium was installed but $CHROMIUM is still missing" >&2
    exit 1
fi
