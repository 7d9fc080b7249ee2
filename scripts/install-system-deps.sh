#!/bin/sh
# Installs the Debian packages the tests need, if they are missing: the AVR toolchain and simavr
# (firmware build and simulator tests), Chromium (the back office's browser tests, driven by
# Playwright with executable_path=/usr/bin/chromium; Playwright's own browser download does not work
# offline) with a font to render pages, SoftHSM2 (the PKCS#11 key store's token in tests), and gcc with
# the Python headers (pip builds tokencore's optional compiled EA07 with them; without, it is skipped).
# nginx-light runs the reverse-proxy example of docs/deploy.md in its test (tests/api/test_deploy.py).
set -eu
PKGS="gcc python3-dev gcc-avr avr-libc binutils-avr arduino-core-avr simavr libsimavr-dev chromium fonts-dejavu-core softhsm2 nginx-light"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages:$missing (run this script as root, or: sudo apt-get install$missing)" >&2
    exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
