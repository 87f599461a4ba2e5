#!/usr/bin/env python3
"""Build the stresskit conda packages from recipe/ without conda and without a conda channel.

What it does (docs/conda.md has the user-facing version):
  1. fetches upstream mimalloc's source from PyPI: the cmeel-mimalloc sdist carries the upstream
     tree under mimalloc/ (pip download, sha256-checked, cached in ~/.cache/stresskit/conda);
  2. builds the stresskit-native package with rattler-build (py-rattler-build), using only an
     empty local channel, the machine's cc/cmake/ninja, and mimalloc compiled from that tree;
     the recipe's own tests (package contents, a C program through the glue) run too;
  3. installs it with py-rattler (solve + link) into a fresh conda prefix (conda-meta/ and all).
The stresskit (noarch: python) output needs python from a real channel: offline it is rendered for
every platform (render_all), and tests/conda builds it against stand-ins for python and its
dependencies (build_python) to check what the package holds (the pytest11 entry point);
build it for real with `rattler-build build -r recipe -c conda-forge`.

Usage: python tools/conda/build_local.py [--prefix DIR] [--output-dir DIR] [--no-recipe-tests]
Needs: pip install py-rattler-build py-rattler (and a C compiler, cmake, ninja on PATH).
"""

from __future__ import annotations

import argparse
import contextlib
import asyncio
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "recipe" / "recipe.yaml"
VARIANTS = REPO / "recipe" / "variants.yaml"

MIMALLOC_VERSION = "3.4.3"
SDIST_NAME = f"cmeel_mimalloc-{MIMALLOC_VERSION}.tar.gz"
# sha256 of the sdist PyPI served for 3.4.3 on 2026-11-21: a different file is refused.
SDIST_SHA256 = "8d355a77cc0f4133cdeb9156c9098bbb4e88924326d38343cf73ff9caa95ece3"

# The recipe reads these (recipe/recipe.yaml, context section).
ENV_SOURCE_DIR = "STRESSKIT_MIMALLOC_SOURCE_DIR"
ENV_SYSTEM_TOOLCHAIN = "STRESSKIT_CONDA_SYSTEM_TOOLCHAIN"

PLATFORMS = ("linux-64", "linux-aarch64", "osx-64", "osx-arm64", "win-64")


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "stresskit" / "conda"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch_mimalloc_source(cache: Path | None = None) -> Path:
    """Return the upstream mimalloc tree from the cmeel-mimalloc sdist, downloading it once.

    ``--no-binary cmeel-mimalloc`` (not ``:all:``): only this package must come as an sdist; its
    build requirements, which pip installs to read the sdist's metadata, may be wheels (with
    ``:all:`` pip compiles CMake itself from source, which takes many minutes).
    Safe when several test runs share the cache: each works in its own temporary directory and
    publishes the result with an atomic rename."""
    cache = cache or cache_root()
    final = cache / f"cmeel_mimalloc-{MIMALLOC_VERSION}"
    tree = final / "mimalloc"
    if (final / ".sha256").is_file() and (final / ".sha256").read_text().strip() == SDIST_SHA256:
        return tree
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".fetch-") as tmp:
        work = Path(tmp)
        sdist = cache / SDIST_NAME
        if not sdist.is_file() or _sha256(sdist) != SDIST_SHA256:
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", "cmeel-mimalloc",
                 f"cmeel-mimalloc=={MIMALLOC_VERSION}", "-d", str(work), "--disable-pip-version-check", "-q"],
                check=True,
            )
            got = _sha256(work / SDIST_NAME)
            if got != SDIST_SHA256:
                raise RuntimeError(f"{SDIST_NAME} from PyPI: sha256 {got}, expected {SDIST_SHA256}")
            os.replace(work / SDIST_NAME, sdist)
        with tarfile.open(sdist) as tar:
            try:
                tar.extractall(work / "x", filter="data")  # refuses absolute paths, links out, devices
            except TypeError:  # Python < 3.10.12 has no extraction filters; the sdist is sha256-pinned
                tar.extractall(work / "x")
        unpacked = work / "x" / final.name
        if not (unpacked / "mimalloc" / "CMakeLists.txt").is_file() or not (unpacked / "mimalloc" / "src").is_dir():
            raise RuntimeError(f"{sdist} does not hold the upstream mimalloc tree under mimalloc/")
        (unpacked / ".sha256").write_text(SDIST_SHA256 + "\n")
        try:
            os.rename(unpacked, final)
        except OSError:
            # Another run published it first, or a stale/partial copy is in the way.
            if not (final / ".sha256").is_file():
                shutil.rmtree(final, ignore_errors=True)
                os.rename(unpacked, final)
    return tree


def make_empty_channel(path: Path, subdirs: tuple[str, ...] = ("noarch",)) -> str:
    """A channel with no packages: rattler-build needs one to solve against, and it must have a
    noarch/repodata.json or setting up the recipe's test environment fails."""
    import rattler

    current = str(rattler.Subdir.current())
    for subdir in dict.fromkeys((*subdirs, current)):
        d = path / subdir
        d.mkdir(parents=True, exist_ok=True)
        (d / "repodata.json").write_text(
            json.dumps({"info": {"subdir": subdir}, "packages": {}, "packages.conda": {}}))
    return path.resolve().as_uri()


class _Log:
    """rattler-build progress callback that keeps every log line (the build script's output
    included) so callers can show it on failure and check what the build did."""

    def __init__(self, echo: bool) -> None:
        self.lines: list[str] = []
        self.echo = echo

    def on_log(self, event) -> None:
        for line in event.message.splitlines() or [""]:
            self.lines.append(line)
            if self.echo:
                print(line, flush=True)

    def on_build_step(self, event) -> None:
        self.lines.append(f"== {event.step_name}: {event.message}")

    def on_download_start(self, event) -> None:
        self.lines.append(f"download {event.url}")

    def on_download_progress(self, event) -> None:
        pass

    def on_download_complete(self, event) -> None:
        pass


@dataclass
class NativeBuild:
    package: Path  # the .conda file
    output_dir: Path  # a local channel holding it
    log: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _offline_env(mimalloc_tree: Path) -> dict[str, str]:
    return {ENV_SOURCE_DIR: str(mimalloc_tree), ENV_SYSTEM_TOOLCHAIN: "1"}


@contextlib.contextmanager
def scoped_environ(env: dict[str, str]):
    """Set variables for the duration (rattler-build reads them from os.environ), then restore."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def render_all(platforms: tuple[str | None, ...] = PLATFORMS, env: dict[str, str] | None = None):
    """Render the recipe for each platform (None: this one) without building or any network:
    {platform: [RenderedVariant]}. Selectors in variants.yaml are evaluated per platform too."""
    from rattler_build import (
        JinjaConfig,
        PlatformConfig,
        RenderConfig,
        Stage0Recipe,
        VariantConfig,
    )

    with scoped_environ(env or {}):
        recipe = Stage0Recipe.from_file(RECIPE)
        rendered = {}
        for p in platforms:
            platform = PlatformConfig(target_platform=p)
            variants = VariantConfig.from_file_with_context(VARIANTS, JinjaConfig(platform=platform))
            rendered[p] = recipe.render(variants, RenderConfig(platform=platform))
        return rendered


def build_native(output_dir: Path, channel_dir: Path, mimalloc_tree: Path, *, recipe_tests: bool = True,
                 echo: bool = False) -> NativeBuild:
    """Build stresskit-native offline. Raises RuntimeError with the build log's tail on failure."""
    from rattler_build import ToolConfiguration

    channel = make_empty_channel(channel_dir)
    env = _offline_env(mimalloc_tree)
    native = [v for v in render_all((None,), env)[None] if v.recipe.package.name == "stresskit-native"]
    if len(native) != 1:
        raise RuntimeError(f"expected one stresskit-native variant, rendered {len(native)}")
    log = _Log(echo)
    start = time.monotonic()
    with scoped_environ(env):  # the source section is re-evaluated at build time
        try:
            result = native[0].run_build(
                tool_config=ToolConfiguration(test_strategy="native" if recipe_tests else "skip"),
                output_dir=output_dir, channels=[channel], progress_callback=log)
        except Exception as exc:
            tail = "\n".join(log.lines[-60:])
            raise RuntimeError(f"rattler-build failed: {exc}\n--- last lines of the build log ---\n{tail}") from exc
    packages = [Path(p) for p in result.packages]
    if len(packages) != 1 or not packages[0].is_file():
        raise RuntimeError(f"expected one .conda file, got {packages}")
    return NativeBuild(packages[0], Path(output_dir), log.lines, time.monotonic() - start)


# The stresskit output's host and run requirements (recipe.yaml) that only a real channel provides.
STUB_NAMES = ("pip", "scikit-build-core", "cffi", "click", "multiprocess", "pydantic", "py-spy", "rich", "tomli-w", "tomli")
_OWN_FILES = ("stresskit", "_stresskit", "_editable_skbc_stresskit", "__editable__")  # this checkout's install


def _stub_recipe(deps: Path) -> str:
    """A channel's worth of stand-ins: ``python`` is a venv of this interpreter whose site-packages
    reaches ``deps`` through a .pth file (this interpreter's packages, without stresskit), and the
    other names are empty packages whose code is in ``deps`` too."""
    v = sys.version_info
    base = getattr(sys, "_base_executable", sys.executable)
    site = f"$PREFIX/lib/python{v.major}.{v.minor}/site-packages"
    script = [f'{shlex.quote(base)} -m venv --without-pip "$PREFIX"', f'echo {shlex.quote(str(deps))} > "{site}/offline_deps.pth"']
    outputs = [{"package": {"name": "python"}, "build": {"script": script}}]
    outputs += [{"package": {"name": name, "version": "99"}, "build": {"noarch": "generic"}} for name in STUB_NAMES]
    recipe = {"schema_version": 1, "recipe": {"name": "offline-stand-ins", "version": f"{v.major}.{v.minor}.{v.micro}"},
              "build": {"number": 0}, "outputs": outputs}
    return json.dumps(recipe, indent=1)  # JSON is YAML


def build_python(output_dir: Path, native_channel: Path, mimalloc_tree: Path, work: Path, *, echo: bool = False) -> Path:
    """Build the stresskit (noarch: python) output with rattler-build, offline, exactly as the
    recipe says (its script: `pip install . --no-deps`), against a local channel of stand-ins for
    what only a real channel has (_stub_recipe); ``python_min`` is this interpreter's version.
    The recipe's own tests are skipped (they need the real run requirements). Returns the .conda;
    ``work/stand-ins`` is left as a channel for ``install``."""
    from rattler_build import JinjaConfig, PlatformConfig, RenderConfig, Stage0Recipe, ToolConfiguration, VariantConfig

    import sysconfig

    deps = work / "deps"
    deps.mkdir(parents=True, exist_ok=True)
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.lower().startswith(_OWN_FILES):
            (deps / entry.name).symlink_to(entry)
    (work / "stand-ins.yaml").write_text(_stub_recipe(deps))
    empty = make_empty_channel(work / "empty-channel")
    stand_ins = work / "stand-ins"
    log = _Log(echo)
    platform = PlatformConfig()
    env = _offline_env(mimalloc_tree)
    try:
        for variant in Stage0Recipe.from_file(work / "stand-ins.yaml").render(VariantConfig(), RenderConfig(platform=platform)):
            variant.run_build(tool_config=ToolConfiguration(test_strategy="skip"), output_dir=stand_ins, channels=[empty],
                              progress_callback=log)
        with scoped_environ(env):
            variants = VariantConfig.from_file_with_context(VARIANTS, JinjaConfig(platform=platform)).merge(
                VariantConfig({"python_min": [f"{sys.version_info.major}.{sys.version_info.minor}"]}))
            python = [v for v in Stage0Recipe.from_file(RECIPE).render(variants, RenderConfig(platform=platform))
                      if v.recipe.package.name == "stresskit"]
            result = python[0].run_build(tool_config=ToolConfiguration(test_strategy="skip"), output_dir=output_dir,
                                         channels=[stand_ins.resolve().as_uri(), native_channel.resolve().as_uri()],
                                         progress_callback=log)
    except Exception as exc:
        tail = "\n".join(log.lines[-60:])
        raise RuntimeError(f"rattler-build failed: {exc}\n--- last lines of the build log ---\n{tail}") from exc
    return Path(result.packages[0])


def install(channel_dirs: list[Path], specs: list[str], prefix: Path, cache_dir: Path | None = None) -> list:
    """Solve ``specs`` against local channels and link them into a new conda prefix."""
    import rattler

    async def go() -> list:
        gateway = rattler.Gateway(cache_dir=cache_dir) if cache_dir else None
        records = await rattler.solve(
            sources=[d.resolve().as_uri() for d in channel_dirs], specs=specs, gateway=gateway,
            platforms=[rattler.Subdir.current(), rattler.Subdir("noarch")])
        await rattler.install(records, target_prefix=prefix, cache_dir=cache_dir / "pkgs" if cache_dir else None,
                              show_progress=False)
        return records

    return asyncio.run(go())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prefix", type=Path, default=REPO / "out" / "conda-prefix",
                    help="conda prefix to create (default: out/conda-prefix)")
    ap.add_argument("--output-dir", type=Path, default=REPO / "out" / "conda-bld",
                    help="where the .conda goes; also a local channel (default: out/conda-bld)")
    ap.add_argument("--no-recipe-tests", action="store_true", help="skip the recipe's tests section")
    ap.add_argument("--quiet", action="store_true", help="do not echo the build log")
    args = ap.parse_args(argv)

    tree = fetch_mimalloc_source()
    print(f"mimalloc source: {tree}")
    build = build_native(args.output_dir, args.output_dir.parent / "conda-empty-channel", tree,
                         recipe_tests=not args.no_recipe_tests, echo=not args.quiet)
    print(f"built {build.package} in {build.seconds:.0f} s")
    for platform, variants in render_all(env=_offline_env(tree)).items():
        print(f"rendered for {platform}: " + ", ".join(f"{v.recipe.package.name} {v.recipe.build.string}" for v in variants))
    if args.prefix.exists():
        if not (args.prefix / "conda-meta").is_dir():
            ap.error(f"--prefix {args.prefix} exists and is not a conda prefix; pick a new directory")
        shutil.rmtree(args.prefix)
    install([args.output_dir], ["stresskit-native"], args.prefix)
    lib = "Library/bin/stresskit_native.dll" if sys.platform == "win32" else "lib/libstresskit_native.so"
    print(f"installed stresskit-native into {args.prefix}\n"
          f"use its library from this checkout with: export STRESSKIT_NATIVE_LIB={args.prefix / lib}\n"
          f"(CONDA_PREFIX={args.prefix} is enough for a stresskit installed without its own library, "
          f"as the conda package is; see docs/conda.md)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
