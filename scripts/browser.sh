#!/usr/bin/env bash
# Installs headless Chromium and its driver (Debian's chromium, chromium-driver)
# when missing: the report test renders the run report in a real browser.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi
if [ -n "${CHROMIUM:-}" ] && [ -n "${CHROMEDRIVER:-}" ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "warning: no chromium/chromedriver and no apt-get: install Chromium and its driver," >&2
  echo "or set CHROMIUM and CHROMEDRIVER; the report's browser test needs them" >&2
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "warning: installing chromium needs root: run apt-get install chromium chromium-driver" >&2
    exit 0
  fi
  sudo="sudo"
fi
echo "installing chromium and chromium-driver (apt-get) for the report's browser test"
export DEBIAN_FRONTEND=noninteractive
if ! $sudo apt-get install -y -qq chromium chromium-driver >/dev/null; then
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
fi
