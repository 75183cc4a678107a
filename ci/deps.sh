#!/usr/bin/env bash
# Installs what fleetbench needs to build, test and bench, on Debian 12, as root. Idempotent:
# packages already present are not touched; a machine with everything installed does no work.
set -euo pipefail

pkgs=(
  build-essential pkg-config clang          # cc, make; clang for the fuzz harnesses
  libclang-rt-dev                            # libFuzzer and the sanitizer runtimes for `make fuzz`
  iproute2                                   # ip: loopback up in the limits test's own network namespace
  libev-dev libyaml-dev libjansson-dev      # event loop, scenarios, JSON parsing
  libmodbus-dev libprotobuf-c-dev protobuf-c-compiler   # Modbus replies, Sparkplug B
  libssl-dev libmicrohttpd-dev libcmocka-dev # crypto/TLS, metrics endpoint, unit tests
  tzdata openssl                             # time zones (Europe/Paris), test certificates
  mosquitto mosquitto-clients mbpoll         # real peers for the integration tests
  chromium                                   # renders the HTML report in tests
  libxml2-utils python3                      # xmllint checks JUnit XML; python3 reads reports in tests
  curl                                       # tests scrape the --metrics-port endpoint
)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# Node.js runs the oracles in ci/oracles; any node >= 18 will do (Debian's, or one already there).
if ! command -v node >/dev/null 2>&1; then missing+=(nodejs); fi
if ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "fleetbench: error: missing packages: ${missing[*]} (run 'make deps' as root)" >&2
    exit 1
  fi
  echo "ci/deps.sh: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The node oracles, pinned by their package-lock.json.
if [ -f ci/oracles/package-lock.json ] && [ ! -f ci/oracles/node_modules/.package-lock.json ]; then
  (cd ci/oracles && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
exit 0
