:: stresskit-native on Windows (MSVC). Same choices as build.sh: mimalloc compiled from the
:: upstream tree in %SRC_DIR%\mimalloc and linked statically into stresskit_native.dll (see
:: build.sh for why). The DLL lands in %LIBRARY_BIN%, its import library in %LIBRARY_LIB%, the
:: headers in %LIBRARY_INC%\stresskit - where stresskit/_native.py looks (Library\bin).
@echo on
setlocal

cmake -S "%SRC_DIR%\stresskit\native" -B "%SRC_DIR%\build-native" -G Ninja ^
    %CMAKE_ARGS% ^
    -DCMAKE_BUILD_TYPE=Release ^
    -DCMAKE_INSTALL_PREFIX="%LIBRARY_PREFIX%" ^
    -DSTRESSKIT_MIMALLOC_SOURCE="%SRC_DIR%\mimalloc" ^
    -DSTRESSKIT_BUILD_TESTS=OFF
if errorlevel 1 exit 1

cmake --build "%SRC_DIR%\build-native" --parallel %CPU_COUNT% --verbose
if errorlevel 1 exit 1

cmake --install "%SRC_DIR%\build-native"
if errorlevel 1 exit 1
