"""A real conda package and a real conda install of stresskit-native, offline.

Once per module: mimalloc's upstream source comes from PyPI (the cmeel-mimalloc sdist, cached in
~/.cache/stresskit/conda), rattler-build builds recipe/'s stresskit-native output against an empty
local channel (the recipe's own tests run too), and py-rattler solves and links it into a fresh
prefix. The tests then check the .conda, the prefix, and use the prefix's library from C, from
the Python binding and from a scenario run - and check that it is that library which got loaded.
The stresskit (noarch: python) output is built against stand-ins for python and its dependencies
and installed next to it: its pytest11 entry point runs a scenario under `pytest --stresskit`.

Needs a C compiler, cmake and ninja on PATH, and py-rattler-build + py-rattler (test extra).
Cold (download + build): about 1.5-2 min on 2 cores; warm (sdist cached): about 30 s.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

rattler_build = pytest.importorskip("rattler_build", reason="py-rattler-build builds the package (test extra)")
rattler = pytest.importorskip("rattler", reason="py-rattler installs the package (test extra)")
from rattler.package_streaming import extract

pytestmark = [pytest.mark.tier0, pytest.mark.slow, pytest.mark.timeout(600), pytest.mark.native_only]

REPO = Path(__file__).resolve().parents[2]
MIMALLOC_VERSION_INT = 30403  # mi_version() of mimalloc 3.4.3
LIB_SO = "libstresskit_native.so"


def _load_build_local():
    spec = importlib.util.spec_from_file_location("stresskit_conda_build_local", REPO / "tools" / "conda" / "build_local.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


build_local = _load_build_local()


@pytest.fixture(scope="module")
def conda(tmp_path_factory):
    if sys.platform != "linux":
        pytest.skip("the offline build uses the system toolchain and ELF tools; checked on Linux only")
    missing = [tool for tool in ("cc", "cmake", "ninja", "nm", "readelf") if shutil.which(tool) is None]
    assert not missing, f"the offline conda build needs {missing} on PATH"
    root = tmp_path_factory.mktemp("conda")
    tree = build_local.fetch_mimalloc_source()
    build = build_local.build_native(root / "bld", root / "empty-channel", tree, recipe_tests=True)
    prefix = root / "prefix"
    records = build_local.install([root / "bld"], ["stresskit-native"], prefix, cache_dir=root / "rattler-cache")
    extracted = root / "extracted"
    extract(build.package, extracted)
    return SimpleNamespace(root=root, tree=tree, build=build, prefix=prefix, records=records,
                           extracted=extracted, lib=prefix / "lib" / LIB_SO)


def _python(code: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args, "-c", textwrap.dedent(code)], env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("STRESSKIT_NATIVE_LIB", "CONDA_PREFIX")}
    env.update(extra)
    return env


# ---- the package ------------------------------------------------------------------------------
def test_package_holds_the_library_and_headers_and_nothing_of_mimalloc(conda):
    files = set(rattler_build.Package.from_file(conda.build.package).files)
    for f in ("lib/libstresskit_native.so", "lib/libstresskit_native.so.0", "lib/libstresskit_native.so.0.1.0",
              "include/stresskit/cc_alloc.h", "include/stresskit/sk_batch.h"):
        assert f in files, f"{f} missing from {conda.build.package.name}: {sorted(files)}"
    # mimalloc is inside libstresskit_native, not shipped beside it.
    assert not [f for f in files if "mimalloc" in Path(f).name], sorted(files)
    index = json.loads((conda.extracted / "info" / "index.json").read_text())
    assert (index["name"], index["version"], index["subdir"]) == ("stresskit-native", "0.1.0", str(rattler.Subdir.current()))
    assert index["depends"] == [], "the native package must be self-contained"
    run_exports = json.loads((conda.extracted / "info" / "run_exports.json").read_text())
    assert run_exports == {"weak": ["stresskit-native >=0.1.0,<0.2.0a0"]}
    assert (conda.extracted / "info" / "licenses" / "mimalloc" / "LICENSE").is_file(), "mimalloc's notice must ship"


def test_mimalloc_was_compiled_from_the_sdist_source(conda):
    log = "\n".join(conda.build.log)
    # The rendered recipe stored in the package names the sdist's tree as mimalloc's source.
    rendered = (conda.extracted / "info" / "recipe" / "rendered_recipe.yaml").read_text()
    assert f"path: {conda.tree}\n" in rendered, rendered
    # Our CMake took mimalloc from that source, not from an installed package such as the cmeel wheel.
    assert "-- stresskit: mimalloc from source:$SRC_DIR/mimalloc" in log
    assert "stresskit: mimalloc from package:" not in log
    # ... and the compiler really compiled mimalloc's sources in this build.
    compiled = set(re.findall(r"-c \$SRC_DIR/mimalloc/src/([\w-]+\.c)\b", log))
    sources = {p.name for p in (conda.tree / "src").glob("*.c")}
    assert {"alloc.c", "arena.c", "os.c", "page.c", "init.c"} <= compiled <= sources, (compiled, sources)
    assert "stresskit-native: mimalloc compiled from $SRC_DIR/mimalloc" in log


def test_mimalloc_is_linked_in_and_hidden(conda):
    real = conda.lib.resolve()
    needed = subprocess.run(["readelf", "-d", str(real)], capture_output=True, text=True, check=True).stdout
    assert "mimalloc" not in needed, needed
    dynsym = subprocess.run(["nm", "-D", "--defined-only", str(real)], capture_output=True, text=True, check=True).stdout
    exported = {line.split()[-1] for line in dynsym.splitlines() if line.strip()}
    assert {"cc_alloc", "cc_free", "cc_mimalloc_version"} <= exported
    assert not [s for s in exported if s.startswith(("mi_", "_mi_"))], "mimalloc symbols leak from the library"


def test_recipe_tests_ran_during_the_build(conda):
    log = "\n".join(conda.build.log)
    assert "cc_smoke ok: glue 0.1.0, mimalloc 30403" in log, "the recipe's C test did not run"
    assert "all tests passed" in log


# ---- the conda prefix -------------------------------------------------------------------------
def test_prefix_is_a_conda_environment(conda):
    metas = list((conda.prefix / "conda-meta").glob("stresskit-native-0.1.0-*.json"))
    assert len(metas) == 1, list((conda.prefix / "conda-meta").iterdir())
    meta = json.loads(metas[0].read_text())
    assert meta["name"] == "stresskit-native"
    assert "lib/libstresskit_native.so" in meta["files"]
    for f in meta["files"]:
        assert (conda.prefix / f).exists(), f"conda-meta lists {f}, not in the prefix"
    assert [r.name.normalized for r in conda.records] == ["stresskit-native"]


def test_c_program_allocates_through_the_prefix_library(conda, tmp_path):
    exe = tmp_path / "cc_smoke"
    subprocess.run(["cc", "-std=c11", f"-I{conda.prefix}/include/stresskit", str(REPO / "native/tests/cc_smoke.c"),
                    f"-L{conda.prefix}/lib", "-lstresskit_native", f"-Wl,-rpath,{conda.prefix}/lib", "-o", str(exe)],
                   check=True)
    ldd = subprocess.run(["ldd", str(exe)], capture_output=True, text=True, check=True).stdout
    assert f"{conda.prefix}/lib/libstresskit_native.so.0" in ldd, ldd
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    assert f"cc_smoke ok: glue 0.1.0, mimalloc {MIMALLOC_VERSION_INT}" in run.stdout


# The Python side: glue smoke through the binding, and which file the process really mapped.
GLUE_SMOKE = """
    import json, sys
    import stresskit._native as native
    from stresskit import Allocator, counting
    lib = native.load()
    a = Allocator()
    with counting() as stats:
        b = a.alloc(64); b.write(b"conda" * 12); assert b.read(60) == b"conda" * 12
        n = a.alloc_node(24); assert n.address % native.lib().cc_cache_line_size() == 0
        z = a.calloc(16, 8); assert z.read(128) == bytes(128)
        for blk in (b, n, z): blk.free()
        s = stats.take()
    mapped = sorted({line.split()[-1] for line in open("/proc/self/maps") if "libstresskit_native" in line})
    print(json.dumps({"path": str(lib.path), "origin": lib.origin, "mapped": mapped,
                      "mimalloc": int(lib.lib.cc_mimalloc_version()),
                      "allocs": s.alloc_count, "frees": s.free_count, "live": s.current_allocated}))
"""


def _check_glue_smoke(out: str, conda, origin: str) -> None:
    got = json.loads(out.strip().splitlines()[-1])
    assert got["origin"] == origin, got
    assert Path(got["path"]).parent == conda.prefix / "lib", got
    # The file the dynamic loader mapped is the prefix's library, whatever symlinks led there.
    assert got["mapped"] == [str(conda.lib.resolve())], got
    assert got["mimalloc"] == MIMALLOC_VERSION_INT
    assert (got["allocs"], got["frees"], got["live"]) == (3, 3, 0), got


def test_python_binding_uses_the_prefix_library_named_explicitly(conda):
    run = _python(GLUE_SMOKE, _env(STRESSKIT_NATIVE_LIB=str(conda.lib)))
    assert run.returncode == 0, run.stderr
    _check_glue_smoke(run.stdout, conda, "env")


def test_python_package_without_its_own_library_finds_the_conda_prefix(conda, tmp_path):
    # What the noarch stresskit package looks like once installed: the Python sources and no
    # stresskit/_lib. Import that copy (site processing off, so the checkout's editable install and
    # its bundled library are out of the way) with CONDA_PREFIX pointing at our prefix.
    site = tmp_path / "site"
    shutil.copytree(REPO / "stresskit", site / "stresskit", ignore=shutil.ignore_patterns("_lib", "__pycache__", "*.so"))
    deps = [p for p in sys.path if p.endswith("site-packages")]
    bootstrap = f"import sys; sys.path[:0] = [{str(site)!r}]; sys.path += {deps!r}\n"
    run = _python(bootstrap + textwrap.dedent(GLUE_SMOKE), _env(CONDA_PREFIX=str(conda.prefix)), "-S")
    assert run.returncode == 0, run.stderr
    _check_glue_smoke(run.stdout, conda, "conda")


SCENARIO = REPO / "recipe" / "conda_smoke.toml"  # the one the recipe's test runs


def test_scenario_runs_against_the_prefix_library(conda, tmp_path):
    if importlib.util.find_spec("stresskit.engine") is None or importlib.util.find_spec("stresskit.session") is None:
        pytest.skip("stresskit.engine / stresskit.session (the scenario runner) are not in this checkout yet")
    scenario = tmp_path / "conda_smoke.toml"
    shutil.copyfile(SCENARIO, scenario)
    report = tmp_path / "report.json"
    env = _env(STRESSKIT_NATIVE_LIB=str(conda.lib))
    cli = "import sys; from stresskit.cli import main; sys.exit(main())"
    doctor = subprocess.run([sys.executable, "-c", cli, "doctor", "--no-attach"], env=env, capture_output=True,
                            text=True, timeout=120, check=False)
    assert f"{conda.lib} (found via: env)" in doctor.stdout, doctor.stdout + doctor.stderr
    run = subprocess.run([sys.executable, "-c", cli, "run", str(scenario), "--quiet", "--json", str(report)], env=env,
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    data = json.loads(report.read_text())
    assert (data["scenario"]["name"], data["status"], data["complete"]) == ("conda_smoke", "pass", True), data
    assert len([t for t in data["thresholds"] if not t.get("builtin")]) == 3, data["thresholds"]


# ---- the stresskit (noarch: python) package and its pytest plugin -------------------------------
# Built by rattler-build from the recipe as written (its script: `pip install ./stresskit
# --no-deps`), against stand-ins for what only a real channel has: `python` is a venv of this
# interpreter, the dependencies are empty packages whose code this interpreter's site-packages
# provides (tools/conda/build_local.py, build_python). Installed with py-rattler (solve + link,
# noarch: python relinked into lib/pythonX.Y/site-packages as conda does).
@pytest.fixture(scope="module")
def conda_python(conda):
    work = conda.root / "python-work"
    package = build_local.build_python(conda.root / "python-out", conda.root / "bld", conda.tree, work)
    prefix = conda.root / "python-prefix"
    build_local.install([work / "stand-ins", conda.root / "bld", conda.root / "python-out"], ["stresskit"], prefix,
                        cache_dir=conda.root / "rattler-cache")
    extracted = conda.root / "python-extracted"
    extract(package, extracted)
    python = prefix / "bin" / "python"
    env = {**_env(CONDA_PREFIX=str(prefix)), "PYTHONNOUSERSITE": "1"}
    env.pop("PYTHONPATH", None)
    return SimpleNamespace(package=package, prefix=prefix, extracted=extracted, python=python, env=env)


def test_python_package_carries_the_pytest11_entry_point(conda_python):
    """pip writes the project's entry points (pyproject.toml) into the dist-info; rattler-build keeps
    the file, so the plugin is registered without a conda-side declaration (`python.entry_points`
    only makes console scripts)."""
    (dist,) = (conda_python.extracted / "site-packages").glob("stresskit-*.dist-info")
    text = (dist / "entry_points.txt").read_text()
    assert re.search(r"^\[pytest11\]\nstresskit = stresskit\.pytest_plugin$", text, re.M), text
    link = json.loads((conda_python.extracted / "info" / "link.json").read_text())
    assert link["noarch"]["entry_points"] == ["stresskit = stresskit.cli:main"]
    assert not (conda_python.extracted / "site-packages" / "stresskit" / "_lib").exists()  # the library is stresskit-native's


def test_pytest_stresskit_runs_a_scenario_in_the_conda_environment(conda_python, tmp_path):
    python, env = str(conda_python.python), conda_python.env
    which = subprocess.run([python, "-c", textwrap.dedent("""
        import importlib.metadata as md, stresskit, stresskit._native as n
        dists = [d for d in md.distributions() if d.metadata["Name"] == "stresskit"]
        eps = [e.value for e in md.entry_points(group="pytest11") if e.name == "stresskit"]
        print(len(dists), dists[0].locate_file(""), eps, stresskit.__file__, n.load().origin)
        """)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert which.returncode == 0, which.stderr
    count, location, eps, module, origin = which.stdout.split(" ", 4)
    prefix = str(conda_python.prefix)
    # the conda package's copy is the only stresskit there, and its library is the prefix's
    assert count == "1" and location.startswith(prefix) and module.startswith(prefix), which.stdout
    assert eps == "['stresskit.pytest_plugin']" and origin.strip() == "conda", which.stdout

    shutil.copyfile(SCENARIO, tmp_path / "conda_smoke.toml")
    pytest_cmd = [python, "-m", "pytest", "conda_smoke.toml", "--stresskit", "-v", "-p", "no:cacheprovider"]
    run = subprocess.run(pytest_cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert re.search(r"conda_smoke\.toml::conda_smoke PASSED", run.stdout) and "1 passed" in run.stdout, run.stdout
    # the option exists only through the entry point: with the plugin blocked, pytest refuses it
    blocked = subprocess.run(pytest_cmd + ["-p", "no:stresskit"], env=env, cwd=tmp_path, capture_output=True, text=True,
                             timeout=120, check=False)
    assert blocked.returncode == 4 and "unrecognized arguments: --stresskit" in blocked.stderr, blocked.stdout + blocked.stderr
