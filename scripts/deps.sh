#!/usr/bin/env bash
# Install what Loom's build and tests need, only where it is missing.
# Idempotent and non-interactive; prints nothing but a short line when all is present.
set -euo pipefail

DEB_PKGS=(
  build-essential gcc g++ make pkg-config clang python3-pip
  libopenblas-dev
  verilator
  libibverbs-dev rdma-core librdmacm-dev ibverbs-utils
  libopenmpi-dev openmpi-bin
  tshark iproute2
  libfabric-dev libfabric-bin
  gnuplot-nox
  gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf
)
PY_PKGS=(ml_dtypes nvidia-cuda-cuobjdump nvidia-cuda-nvdisasm)
# A PyPI package is present when it imports (ml_dtypes) or pip knows it.
py_present() {
  case "$1" in
    ml_dtypes) python3 -c 'import ml_dtypes' >/dev/null 2>&1 ;;
    *) python3 -m pip show -q "$1" >/dev/null 2>&1 ;;
  esac
}

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then echo sudo; else
      echo "deps: missing packages and not root (no sudo): install them by hand: $*" >&2
      exit 1
    fi
  fi
}

missing_deb=()
for p in "${DEB_PKGS[@]}"; do
  st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$st" = installed ] || missing_deb+=("$p")
done

if [ ${#missing_deb[@]} -gt 0 ]; then
  SUDO=$(need_root "${missing_deb[@]}")
  echo "deps: installing Debian packages: ${missing_deb[*]}"
  export DEBIAN_FRONTEND=noninteractive
  echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections || true
  $SUDO apt-get update -qq
  log=$(mktemp)
  if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing_deb[@]}" >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    echo "deps: apt-get install failed (last lines above)" >&2
    rm -f "$log"; exit 1
  fi
  rm -f "$log"
fi

missing_py=()
for p in "${PY_PKGS[@]}"; do
  py_present "$p" || missing_py+=("$p")
done
if [ ${#missing_py[@]} -gt 0 ]; then
  echo "deps: installing PyPI packages: ${missing_py[*]}"
  # Debian 12+ marks its python3 "externally managed" (PEP 668) and pip refuses to
  # install into it; these are test oracles for this machine's python3, so say so.
  PIP_BREAK_SYSTEM_PACKAGES=1 \
    PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --disable-pip-version-check "${missing_py[@]}"
fi

echo "deps: all present"
