"""The platforms the conda recipe claims beyond linux-64 (docs/conda.md says what each check covers):
linux-aarch64 built and run under qemu-aarch64, osx-64 / osx-arm64 / win-64 compiled and linked,
each library held to tier 0's symbol rule: it exports the cc_*/sk_* ABI and nothing else.

Cold, these builds take minutes (zig compiles each target's libc once); warm, they are cache hits
(tests/platforms/cross.py)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from cross import PLATFORMS, ROOT, CrossUnavailable, build_library, build_programs
from cross import cache_line_size, exported_names, linked_libraries, qemu, zig_command

from stresskit.sanitize.source import SourceUnavailable

pytestmark = [pytest.mark.tier0, pytest.mark.slow, pytest.mark.native_only]
LINK_CHECKED = sorted(PLATFORMS)
# Mach-O: ld always exports the image header and __dso_handle; they are not C functions of ours.
LINKER_DEFINED = {"__mh_dylib_header", "___dso_handle"}
# Under qemu each op is ~10x slower than native; the scenarios' shapes matter here, not their length.
QEMU_MAX_OPS = 60_000


def _require(call, *args):
    try:
        return call(*args)
    except (CrossUnavailable, SourceUnavailable) as exc:
        pytest.skip(str(exc))


def linux_exports() -> set[str]:
    """The reference ABI: what the library built for this Linux host exports."""
    from stresskit import _native

    out = subprocess.run(["nm", "-D", "--defined-only", _native.load().path], check=True,
                         capture_output=True, text=True).stdout
    return {line.split()[-1] for line in out.splitlines() if line.strip()}


@pytest.fixture(scope="module")
def reference() -> set[str]:
    if not sys.platform.startswith("linux"):
        pytest.skip("the reference export list is read from the Linux build with nm -D")
    names = linux_exports()
    assert "cc_alloc" in names and "sk_run_create" in names, sorted(names)[:20]
    return names


@pytest.mark.parametrize("conda", LINK_CHECKED)
def test_library_cross_links_and_exports_only_the_cc_sk_abi(conda, reference):
    platform = PLATFORMS[conda]
    build = _require(build_library, platform)
    names = set(exported_names(build.library))
    ours = {n[len(platform.prefix):] for n in names if n not in LINKER_DEFINED}
    foreign = sorted(n for n in ours if not n.startswith(("cc_", "sk_")))
    assert not foreign, f"{build.library} exports more than cc_*/sk_*: {foreign[:20]}"
    assert ours == reference, (
        f"{conda} exports differ from linux-64's: missing {sorted(reference - ours)[:10]}, "
        f"extra {sorted(ours - reference)[:10]}"
    )
    needed = linked_libraries(build.library)
    assert needed, f"no load-time libraries read from {build.library}: the check would be empty"
    assert not [n for n in needed if "python" in n.lower() or "mimalloc" in n.lower()], needed


@pytest.mark.parametrize("conda", LINK_CHECKED)
def test_cache_line_size_is_the_targets(conda):
    """Apple's arm64 cores have 128-byte lines (false sharing in 64-byte padding); the rest 64."""
    platform = PLATFORMS[conda]
    assert _require(cache_line_size, platform) == platform.cache_line


def test_export_reader_sees_a_leaked_symbol(tmp_path):
    """The export check above can fail: a Mach-O and a DLL built from one exported mi_ function
    show it in exported_names."""
    zig = _require(zig_command)
    src = tmp_path / "leak.c"
    src.write_text('__attribute__((visibility("default"))) int mi_leaked(void) { return 1; }\n'
                   "#ifdef _WIN32\n__declspec(dllexport) int mi_leaked_dll(void) { return 2; }\n#endif\n")
    for target, out, leaked in (("aarch64-macos", "leak.dylib", "_mi_leaked"),
                                ("x86_64-windows-gnu", "leak.dll", "mi_leaked_dll")):
        subprocess.run([*zig, "cc", "-target", target, "-shared", str(src), "-o", str(tmp_path / out)],
                       check=True, capture_output=True, timeout=300)
        assert leaked in exported_names(tmp_path / out), (target, exported_names(tmp_path / out))


def _plan_text():
    """tests/engine's plan writer for scenario_driver (loaded by path: tests/ is not a package)."""
    path = ROOT / "tests" / "engine" / "test_sanitized_scenarios.py"
    spec = importlib.util.spec_from_file_location("_sanitized_scenarios_plans", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def aarch64_programs():
    emulator = _require(qemu)
    return emulator, _require(build_programs)


def test_glue_seed_matrix_runs_on_aarch64_under_qemu(aarch64_programs):
    emulator, programs = aarch64_programs
    exe = programs["cc_sanitize"]
    header = exe.read_bytes()[:20]
    assert header[:4] == b"\x7fELF" and int.from_bytes(header[18:20], "little") == 183, "not an aarch64 ELF"
    run = subprocess.run([emulator, str(exe), "clean"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]


SCENARIOS = sorted(p for p in (ROOT / "scenarios").glob("*.toml") if p.stem != "oom")


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_engine_runs_shipped_scenario_on_aarch64_under_qemu(aarch64_programs, path):
    emulator, programs = aarch64_programs
    plans = _plan_text()
    text = plans.plan_text(path, max_ops=QEMU_MAX_OPS)
    run = subprocess.run([emulator, str(programs["scenario_driver"])], input=text,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    assert "scenario_driver: ok" in run.stdout
