"""recipe/recipe.yaml renders for every platform the way real channels would build it.

The stresskit (noarch: python) output needs python from a channel; tests/conda/test_conda_package.py
builds it against stand-ins, and rendering it with rattler-build (schema, Jinja, selectors, variants, pins) is the offline check,
plus the facts below compared with pyproject.toml so the two cannot drift apart.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

pytest.importorskip("rattler_build", reason="py-rattler-build renders the recipe (test extra)")

pytestmark = pytest.mark.tier0

REPO = Path(__file__).resolve().parents[2]
COMPILER = {"linux-64": "gcc_linux-64", "linux-aarch64": "gcc_linux-aarch64", "osx-64": "clang_osx-64",
            "osx-arm64": "clang_osx-arm64", "win-64": "vs2022_win-64"}


def _load_build_local():
    spec = importlib.util.spec_from_file_location("stresskit_conda_build_local", REPO / "tools" / "conda" / "build_local.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rendered():
    build_local = _load_build_local()
    assert set(build_local.PLATFORMS) == set(COMPILER)
    # Neither offline override set: this is what a real channel's build sees.
    env = {build_local.ENV_SOURCE_DIR: "", build_local.ENV_SYSTEM_TOOLCHAIN: ""}
    return {p: {v.recipe.package.name: v.recipe.to_dict() for v in vs} for p, vs in build_local.render_all(env=env).items()}


def _project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]


@pytest.mark.parametrize("platform", sorted(COMPILER))
def test_native_output(rendered, platform):
    native = rendered[platform]["stresskit-native"]
    build = native["requirements"]["build"]
    assert COMPILER[platform] in build, build
    # MSVC builds mimalloc as C++: the C++ compiler (same package name there) must be asked for too.
    assert build.count(COMPILER[platform]) == (2 if platform == "win-64" else 1), build
    assert any(b.startswith("cmake") for b in build) and "ninja" in build, build
    assert native["build"]["script"]["file"] == ("bld.bat" if platform == "win-64" else "build.sh")
    assert "noarch" not in native["build"]
    pin = native["requirements"]["run_exports"]["weak"][0]["pin_subpackage"]
    assert (pin["name"], pin["upper_bound"]) == ("stresskit-native", "x.x")
    sources = {s["target_directory"]: s for s in native["source"]}
    assert sources["stresskit"]["path"] == ".."
    mimalloc = sources["mimalloc"]
    assert mimalloc["url"] == "https://github.com/microsoft/mimalloc/archive/refs/tags/v3.4.3.tar.gz"
    assert re.fullmatch(r"[0-9a-f]{64}", mimalloc["sha256"])
    kinds = [next(iter(t.keys() - {"files", "requirements"})) for t in native["tests"]]
    assert kinds == ["package_contents", "script"], native["tests"]
    assert native["tests"][1]["requirements"]["build"] == [COMPILER[platform]]


@pytest.mark.parametrize("platform", sorted(COMPILER))
def test_python_output_matches_pyproject(rendered, platform):
    py = rendered[platform]["stresskit"]
    assert py["build"]["noarch"] == "python"
    project = _project()
    entry = [f"{k} = {v}" for k, v in project["scripts"].items()]
    assert py["build"]["python"]["entry_points"] == entry
    run = py["requirements"]["run"]
    pins = [r["pin_subpackage"] for r in run if isinstance(r, dict)]
    assert pins == [{"name": "stresskit-native", "lower_bound": "x.x.x", "upper_bound": "x.x.x"}]
    conda = dict(r.split(" ", 1) for r in run if isinstance(r, str))
    assert conda.pop("python") == ">=" + project["requires-python"].removeprefix(">=")
    wanted = {Requirement(r).name: str(Requirement(r).specifier) for r in project["dependencies"]}
    assert conda == wanted, "recipe run requirements differ from pyproject.toml [project] dependencies"
    imports = [t["python"]["imports"] for t in py["tests"] if "python" in t]
    assert imports == [["stresskit", "stresskit.engine"]]
    script = next(t["script"] for t in py["tests"] if "script" in t)
    assert any(line.startswith("stresskit run ") for line in script), script
    assert any("origin == 'conda'" in line for line in script), script


def test_offline_overrides_change_only_source_and_toolchain(tmp_path):
    build_local = _load_build_local()
    env = {build_local.ENV_SOURCE_DIR: str(tmp_path), build_local.ENV_SYSTEM_TOOLCHAIN: "1"}
    native = next(v.recipe.to_dict() for v in build_local.render_all((None,), env)[None]
                  if v.recipe.package.name == "stresskit-native")
    mimalloc = next(s for s in native["source"] if s["target_directory"] == "mimalloc")
    assert mimalloc == {"path": str(tmp_path), "target_directory": "mimalloc"}
    assert not native["requirements"].get("build"), native["requirements"]
    assert native["requirements"]["run_exports"], "run_exports must not depend on the toolchain"


@pytest.mark.parametrize("form", ["this_pip", "environment"])
def test_python_output_build_command_gives_a_pure_python_package(tmp_path, form):
    # The stresskit output's build script, run here with this interpreter: the result must be the
    # Python sources only (noarch), with the entry point, and without the native library.
    pytest.importorskip("scikit_build_core", reason="the noarch build runs scikit-build-core (build requirement)")

    build_local = _load_build_local()
    rendered = build_local.render_all((None,))[None]
    script = next(v.recipe.to_dict()["build"]["script"] for v in rendered if v.recipe.package.name == "stresskit")
    command = (script if isinstance(script, str) else script[0]).split()
    assert command[:4] == ["python", "-m", "pip", "install"] and "-Cwheel.cmake=false" in command, command
    src = tmp_path / "stresskit"
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes((REPO / name).read_bytes())
    for name in ("stresskit", "native", "scenarios", "docs"):
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("_lib", "__pycache__", "*.so*"))
    options = [c for c in command[5:] if c.startswith("-C") or c in ("--no-deps", "--no-build-isolation")]
    # "environment": the form a pip without --config-settings gets, proven here on any pip.
    options, env = pip_options(options, _pip_wheel_help() if form == "this_pip" else "")
    assert not any(o.startswith("-C") for o in options) or form == "this_pip"
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "-w", str(tmp_path / "dist"), "-q",
                    "--disable-pip-version-check", *options], check=True, cwd=tmp_path, timeout=300, env={**os.environ, **env})
    (wheel,) = (tmp_path / "dist").glob("stresskit-*.whl")
    assert wheel.name.endswith("-py3-none-any.whl"), wheel.name
    names = zipfile.ZipFile(wheel).namelist()
    assert "stresskit/_native.py" in names and "stresskit/cli.py" in names
    assert not [n for n in names if "/_lib/" in n or n.endswith((".so", ".dll", ".dylib"))], names
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "stresskit = stresskit.cli:main" in entry_points


# -- the README's test command runs with whatever pip the venv ships -------------------------------
# Python 3.10's venv ships pip 23.0, which has --config-settings (pip >= 22.1) but not its short
# form -C (pip >= 23.1); an older pip has neither, and scikit-build-core then takes the same
# setting from SKBUILD_<KEY> in the environment. The setting is always passed one way or the
# other: the wheel check below it would catch a build that silently ignored it.


def _pip_wheel_help() -> str:
    return subprocess.run([sys.executable, "-m", "pip", "wheel", "--help"], capture_output=True, text=True, check=True).stdout


def pip_options(options: list[str], pip_help: str) -> tuple[list[str], dict[str, str]]:
    """The recipe's pip options rewritten for this pip: (command-line options, environment)."""
    settings = [o[2:] for o in options if o.startswith("-C")]
    others = [o for o in options if not o.startswith("-C")]
    if re.search(r"^\s*-C, --config-settings", pip_help, flags=re.M):
        return options, {}
    if "--config-settings" in pip_help:
        return others + [f"--config-settings={s}" for s in settings], {}
    env = {}
    for setting in settings:
        key, _, value = setting.partition("=")
        env["SKBUILD_" + re.sub(r"[.-]", "_", key).upper()] = value
    return others, env


@pytest.mark.parametrize(
    ("pip_help", "expected"),
    [
        ("  -C, --config-settings <settings>\n", (["--no-deps", "-Cwheel.cmake=false"], {})),
        ("  --config-settings <settings>\n", (["--no-deps", "--config-settings=wheel.cmake=false"], {})),
        ("  --no-deps\n", (["--no-deps"], {"SKBUILD_WHEEL_CMAKE": "false"})),
    ],
    ids=["pip>=23.1", "pip 22.1-23.0", "older"],
)
def test_recipe_options_fit_every_pip(pip_help, expected):
    assert pip_options(["--no-deps", "-Cwheel.cmake=false"], pip_help) == expected
