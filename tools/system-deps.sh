#!/usr/bin/env bash
# Debian packages the test suite needs: a virtual X server and the xcb
# libraries Qt loads, so the napari GUI tests run headless for real
# (QT_QPA_PLATFORM=offscreen has no OpenGL context for napari's canvas).
# The xcb list is what Qt 6's xcb platform plugin (PySide6, the [napari]
# extra's binding) links to, read with ldd on libqxcb.so; libxcb-cursor0 is
# the one Qt 6.5+ adds and minimal systems lack. Orthanc with its DICOMweb
# plugin is the real server the URL tests start.
# ffmpeg: the command line benchmarks/bench_video.py compares against.
# libjpeg-turbo-progs: jpegtran, which re-codes baseline JPEG into the retired
# arithmetic and progressive processes (dicomio.encode.retired, the samples).
set -euo pipefail
pkgs=(xvfb xauth libxcb-icccm4 libxcb-keysyms1 libxcb-xinerama0 libxcb-cursor0
      libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-image0
      libxcb-shm0 libxcb-sync1 libxcb-xfixes0 libxcb-render0 libxcb-xkb1
      libxcb-util1 libx11-xcb1 libxkbcommon0 libxkbcommon-x11-0 libglib2.0-0
      libgl1 libegl1 libdbus-1-3 libfontconfig1 ffmpeg
      orthanc orthanc-dicomweb libjpeg-turbo-progs)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system-deps: all ${#pkgs[@]} Debian packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
