#!/usr/bin/env bash
# Install the system libraries depthkit's wheels need, if missing:
#   libusb-1.0-0  open3d and pyrealsense2
#   libgl1, libglib2.0-0  opencv-python (HighGUI build)
#   xvfb          the live app's window test (a virtual display)
# As root this runs apt-get; otherwise it prints the command and stops.
set -euo pipefail
missing=()
have_lib() { ldconfig -p 2>/dev/null | grep -q "$1"; }
have_lib 'libusb-1.0.so.0' || missing+=(libusb-1.0-0)
have_lib 'libGL.so.1'      || missing+=(libgl1)
have_lib 'libgthread-2.0.so.0' || missing+=(libglib2.0-0)
command -v Xvfb >/dev/null 2>&1 || missing+=(xvfb)
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "depthkit needs the system libraries: ${missing[*]} (install them with your package manager)" >&2
  exit 1
fi
cmd="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "depthkit needs system libraries that are missing. Run as root:" >&2
  echo "  sudo sh -c '$cmd'" >&2
  exit 1
fi
echo "installing system libraries: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
