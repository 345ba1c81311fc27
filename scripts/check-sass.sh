#!/usr/bin/env bash
# check-sass.sh - static checks of the CUDA kernels' machine code (SASS).
#
#   scripts/check-sass.sh BUILD            check BUILD/lib/libloom_cuda.a and
#                                          the ptxas logs under BUILD/cuda
#   scripts/check-sass.sh --sass FILE [--logs DIR]
#                                          check an already dumped SASS text
#                                          (what the tests feed it)
#
# Asserts, per kernel (cuobjdump "Function :" section):
#   - GEMM kernels (names matching $GEMM_KERNELS, default k_gemm_fp8) contain
#     QGMMA (FP8 warpgroup MMA) and UTMALDG (TMA tensor loads), and at least
#     one such kernel exists;
#   - no kernel uses local memory (STL / LDL) unless its name matches
#     $LMEM_ALLOWED (an extended regex; empty by default: none allowed);
#   - no ptxas log says wgmma was serialized.
# cuobjdump and nvdisasm come from PyPI (nvidia-cuda-cuobjdump,
# nvidia-cuda-nvdisasm; `make deps`); found on PATH, in $CUOBJDUMP's
# directory, or in python3's site-packages.  Missing tools are an error,
# said plainly.  Exit 0 when every check holds, 1 otherwise.
set -u
GEMM_KERNELS=${GEMM_KERNELS:-k_gemm_fp8}
LMEM_ALLOWED=${LMEM_ALLOWED:-}
SERIALIZED='wgmma.mma_async instructions are serialized'

sass= logs= lib=
case "${1:-}" in
  --sass) sass=$2; shift 2; [ "${1:-}" = --logs ] && logs=$2 ;;
  '') echo "usage: $0 BUILD | --sass FILE [--logs DIR]" >&2; exit 2 ;;
  *) lib=$1/lib/libloom_cuda.a; logs=$1/cuda ;;
esac

find_tool() { # name -> path on stdout, or nothing
  local t=$1 d
  if [ -n "${CUOBJDUMP:-}" ] && [ -x "$(dirname "$CUOBJDUMP")/$t" ]; then
    echo "$(dirname "$CUOBJDUMP")/$t"; return
  fi
  command -v "$t" 2>/dev/null && return
  for d in $(python3 -c 'import site, sysconfig; print(" ".join(site.getsitepackages() + [sysconfig.get_paths()["purelib"]]))' 2>/dev/null); do
    for f in "$d"/nvidia/*/bin/"$t" "$d"/nvidia/cuda_*/bin/"$t"; do
      [ -x "$f" ] && { echo "$f"; return; }
    done
  done
}

fail=0
bad() { echo "check-sass: FAIL: $*"; fail=1; }

if [ -n "$lib" ]; then
  [ -f "$lib" ] || { echo "check-sass: $lib not found (run make cuda first)"; exit 1; }
  cuobjdump=$(find_tool cuobjdump)
  nvdisasm=$(find_tool nvdisasm)
  if [ -z "$cuobjdump" ] || [ -z "$nvdisasm" ]; then
    echo "check-sass: cuobjdump/nvdisasm not found: install PyPI's nvidia-cuda-cuobjdump and nvidia-cuda-nvdisasm (make deps)"
    exit 1
  fi
  sass=$(mktemp); trap 'rm -f "$sass"' EXIT
  if ! PATH=$(dirname "$nvdisasm"):$PATH "$cuobjdump" -sass "$lib" >"$sass" 2>&1; then
    cat "$sass"; echo "check-sass: cuobjdump -sass $lib failed"; exit 1
  fi
fi

# One line per kernel: name, QGMMA count, UTMALDG count, STL/LDL count.
table=$(awk '
  /Function : / { if (name != "") print name, q, t, l; name = $NF; q = t = l = 0; next }
  /QGMMA/ { q++ }
  /UTMALDG/ { t++ }
  /[[:space:]](STL|LDL)(\.|[[:space:]])/ { l++ }
  END { if (name != "") print name, q, t, l }' "$sass")

[ -n "$table" ] || bad "no kernels in the SASS dump"
gemms=0
while read -r name q t l; do
  [ -n "$name" ] || continue
  if [[ $name =~ $GEMM_KERNELS ]]; then
    gemms=$((gemms + 1))
    [ "$q" -gt 0 ] || bad "$name: no QGMMA (FP8 wgmma) instruction"
    [ "$t" -gt 0 ] || bad "$name: no UTMALDG (TMA load) instruction"
  fi
  if [ "$l" -gt 0 ] && ! { [ -n "$LMEM_ALLOWED" ] && [[ $name =~ $LMEM_ALLOWED ]]; }; then
    bad "$name: $l local-memory instruction(s) (STL/LDL)"
  fi
  echo "check-sass: $name: QGMMA $q, UTMALDG $t, STL/LDL $l"
done <<<"$table"
[ "$gemms" -gt 0 ] || bad "no GEMM kernel matching '$GEMM_KERNELS'"

if [ -n "$logs" ]; then
  while IFS= read -r f; do
    grep -q "$SERIALIZED" "$f" && bad "$f: ptxas: $SERIALIZED"
  done < <(find "$logs" -name '*.ptxas.log' 2>/dev/null)
fi

[ "$fail" -eq 0 ] && echo "check-sass: ok ($gemms GEMM kernel(s))"
exit "$fail"
