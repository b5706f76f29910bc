#!/usr/bin/env bash
# Installs the Debian packages dseek builds and tests with (run as root on a fresh machine).
set -euo pipefail
packages=(build-essential cmake ninja-build pkg-config
          nlohmann-json3-dev libcli11-dev libfmt-dev libpcre2-dev libcpp-httplib-dev libicu-dev
          libgtest-dev libgmock-dev libbenchmark-dev python3-numpy curl)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
# The server's end-to-end tests drive it with the openai npm package (Node >= 20 where the
# machine has it; Debian's own nodejs otherwise).
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd=sudo
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
