#!/bin/sh
# Install the Debian packages engwatch needs to build, test and run.
#   tools/deps.sh          install what is missing (apt-get update once, sudo when not root)
#   tools/deps.sh --check  exit 0 when everything is installed, 1 otherwise
set -eu
PKGS="make gcc clang libclang-rt-14-dev pkg-config
librdkafka-dev libhiredis-dev libconfig-dev libjansson-dev libutf8proc-dev zlib1g-dev
libmicrohttpd-dev libcurl4-openssl-dev libsystemd-dev libcmocka-dev
redis-server redis-tools kcat python3 curl systemd man-db chromium fonts-wqy-microhei fonts-noto-color-emoji"

missing=""
for p in $PKGS; do
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$st" in *" installed") ;; *) missing="$missing $p" ;; esac
done

if [ "${1:-}" = "--check" ]; then
    [ -z "$missing" ] && exit 0
    echo "deps: missing:$missing" >&2
    exit 1
fi
[ -z "$missing" ] && { echo "deps: all packages installed"; exit 0; }

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "deps: installing:$missing"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
