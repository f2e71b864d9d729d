#!/usr/bin/env bash
# Installs oneDNN (Debian's libdnnl-dev, oneDNN 2.6) when it is missing, so that the
# `onednn` backend is available. ConvKit builds and runs without it; this only adds the
# backend. Safe to run repeatedly. Set CONVKIT_SKIP_ONEDNN_INSTALL=1 to never install.
set -u
if [ -f /usr/include/oneapi/dnnl/dnnl.h ]; then exit 0; fi
if [ "${CONVKIT_SKIP_ONEDNN_INSTALL:-0}" = "1" ]; then
  echo "note: oneDNN not installed (CONVKIT_SKIP_ONEDNN_INSTALL=1); the onednn backend will be unavailable" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; fi
fi
if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" = "0" ] || [ -n "$SUDO" ]; }; then
  echo "Installing libdnnl-dev (oneDNN 2.6) for the onednn backend..." >&2
  export DEBIAN_FRONTEND=noninteractive
  if $SUDO apt-get install -y -q libdnnl-dev >/dev/null 2>&1 || \
     { $SUDO apt-get update -q >/dev/null 2>&1 && $SUDO apt-get install -y -q libdnnl-dev >/dev/null 2>&1; }; then
    echo "libdnnl-dev installed." >&2
    exit 0
  fi
fi
echo "note: could not install oneDNN; the onednn backend will be unavailable." >&2
echo "      To add it, run: sudo apt-get install -y libdnnl-dev   (then rebuild)" >&2
exit 0
