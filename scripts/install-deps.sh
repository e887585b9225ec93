#!/usr/bin/env bash
# install-deps.sh — install the Debian 12 packages Rill needs to build and test.
#
# Installs only what is missing and is safe to run any number of times.
# Must run as root (or via sudo). Runs `apt-get update` only when something
# actually has to be installed. Prints one summary line at the end.
set -euo pipefail

readonly PACKAGES=(
    build-essential cmake pkg-config
    librdkafka-dev librocksdb-dev libcurl4-openssl-dev libcriterion-dev libjson-c-dev libssl-dev
    kcat maven openjdk-17-jre-headless nodejs npm gnuplot-nox
    clang libclang-rt-14-dev
    # The layout of the C files (scripts/format.sh; .ci/run checks it).
    clang-format
    # The private libraries of librdkafka, libcurl and libmicrohttpd (GnuTLS's libunistring),
    # which `pkg-config --static --libs rill` names for an app linked that way
    # (scripts/examples.sh links one).
    libsasl2-dev libnghttp2-dev librtmp-dev libpsl-dev libkrb5-dev libldap-dev libunistring-dev
    # The HTTP endpoint (http.listen: /metrics, /health, /ready), and promtool, with which
    # the tests check the /metrics text.
    libmicrohttpd-dev prometheus
    # The self-signed certificate of the HTTPS function in the HTTP/2 tests.
    openssl
)

# Packages whose job may already be done by a command on PATH that came from
# elsewhere (e.g. nodesource's nodejs ships npm; a JDK from another source).
command_for_package() {
    case "$1" in
        openjdk-17-jre-headless) echo java ;;
        maven) echo mvn ;;
        nodejs) echo node ;;
        npm) echo npm ;;
        *) echo "" ;;
    esac
}

package_installed() {
    local status
    status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]]
}

package_present() {
    local pkg=$1 cmd
    cmd=$(command_for_package "$pkg")
    if [[ -n "$cmd" ]] && command -v "$cmd" >/dev/null 2>&1; then
        return 0
    fi
    package_installed "$pkg"
}

missing_packages() {
    local pkg
    for pkg in "${PACKAGES[@]}"; do
        package_present "$pkg" || echo "$pkg"
    done
}

main() {
    local missing
    mapfile -t missing < <(missing_packages)
    if [[ ${#missing[@]} -eq 0 ]]; then
        echo "all dependencies present"
        return 0
    fi
    if [[ $(id -u) -ne 0 ]]; then
        echo "install-deps.sh: must run as root to install: ${missing[*]}" >&2
        return 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    echo "installed: ${missing[*]}"
}

main "$@"
