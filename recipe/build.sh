#!/usr/bin/env bash
# stresskit-native on Linux and macOS. mimalloc is compiled from the upstream tree in
# $SRC_DIR/mimalloc by our own CMake project (STRESSKIT_MIMALLOC_SOURCE), with the options
# conda-forge's mimalloc feedstock uses (MI_OVERRIDE=OFF, MI_BUILD_TESTS=OFF, MI_INSTALL_TOPLEVEL=ON),
# except that it is built static and linked into libstresskit_native with its symbols hidden:
#  * the glue is tested against exactly this mimalloc (3.4's OOM/limit behaviour differs from 2.x),
#    and a shared libmimalloc from the environment could be any 3.x or 2.x build;
#  * a process that loads stresskit may already hold another mimalloc (a Python build, another
#    package, LD_PRELOAD); hidden symbols mean neither copy interposes on the other;
#  * cffi dlopens one self-contained file, with no rpath chain to a second library.
# The cost: a mimalloc fix needs a rebuild of stresskit-native, not just a mimalloc update.
set -euxo pipefail

# conda-forge's linux-aarch64 baseline is ARMv8.0, but mimalloc compiles arm64 with
# -march=armv8.1-a (LSE atomics) unless told not to: SIGILL on v8.0 cores such as Cortex-A72.
# Apple silicon is v8.4+, so osx-arm64 keeps the faster atomics.
mimalloc_args=()
if [[ "${target_platform:-}" == linux-aarch64 ]]; then
    mimalloc_args+=(-DMI_NO_OPT_ARCH=ON)
fi

# Offline builds use the machine's cc/cmake/ninja and get no CMAKE_ARGS from a compiler package.
cmake -S "$SRC_DIR/stresskit/native" -B "$SRC_DIR/build-native" -G Ninja \
    ${CMAKE_ARGS:-} \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_INSTALL_PREFIX="$PREFIX" \
    -DCMAKE_INSTALL_LIBDIR=lib \
    -DSTRESSKIT_MIMALLOC_SOURCE="$SRC_DIR/mimalloc" \
    -DSTRESSKIT_BUILD_TESTS=OFF \
    ${mimalloc_args[@]+"${mimalloc_args[@]}"}

cmake --build "$SRC_DIR/build-native" --parallel "${CPU_COUNT:-2}" --verbose

# Proof for the build log (and tests/conda) that mimalloc was compiled here, not taken from a
# prebuilt archive: the static library our CMake produced from the source tree.
test -f "$SRC_DIR/build-native/mimalloc/libmimalloc.a"
echo "stresskit-native: mimalloc compiled from $SRC_DIR/mimalloc into $SRC_DIR/build-native/mimalloc/libmimalloc.a"

cmake --install "$SRC_DIR/build-native"
