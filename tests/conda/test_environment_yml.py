"""environment.yml (the conda development environment) agrees with pyproject.toml.

Names are compared after PEP 503 normalisation, through the few places where conda-forge names a
package differently; lower bounds must match; an environment marker (tomli's python_version <
'3.11') is allowed to become an unconditional dependency, since conda has no markers.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10
    import tomli as tomllib

yaml = pytest.importorskip("yaml", reason="PyYAML reads environment.yml (requested for the test extra)")

pytestmark = pytest.mark.tier0

REPO = Path(__file__).resolve().parents[2]
# PyPI name -> conda-forge name, where they differ.
CONDA_NAME = {"matplotlib": "matplotlib-base"}
# Listed in environment.yml for building and testing the checkout, not pyproject dependencies.
TOOLING = {"python", "pip", "c-compiler", "cmake", "ninja", "scikit-build-core", "pyyaml",
           "cmeel-mimalloc", "py-rattler-build", "py-rattler"}
EXTRAS = ("test", "plot")


def _pyproject_requirements() -> dict[str, Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    for extra in EXTRAS:
        reqs += [Requirement(r) for r in project["optional-dependencies"][extra]]
    return {canonicalize_name(CONDA_NAME.get(r.name, r.name)): r for r in reqs}


def _conda_spec(spec: str) -> tuple[str, str]:
    """'pytest-benchmark >=4' -> ('pytest-benchmark', '>=4'); pip lines use PEP 508."""
    if any(op in spec.split()[0] for op in "<>=!~"):
        req = Requirement(spec)
        return canonicalize_name(req.name), str(req.specifier)
    name, _, version = spec.partition(" ")
    return canonicalize_name(name), version.replace(" ", "")


def _environment() -> dict[str, str]:
    env = yaml.safe_load((REPO / "environment.yml").read_text(encoding="utf-8"))
    assert env["channels"][0] == "conda-forge", env["channels"]
    found: dict[str, str] = {}
    for dep in env["dependencies"]:
        specs = dep["pip"] if isinstance(dep, dict) else [dep]
        for spec in specs:
            name, version = _conda_spec(spec)
            assert name not in found, f"environment.yml lists {name} twice"
            found[name] = version
    return found


def _lower_bound(specifier: str) -> str | None:
    for part in specifier.split(","):
        if part.startswith(">="):
            return part[2:]
    return None


def test_every_pyproject_dependency_is_in_environment_yml():
    env = _environment()
    missing = sorted(set(_pyproject_requirements()) - set(env))
    assert not missing, f"in pyproject.toml but not in environment.yml: {missing}"


def test_lower_bounds_agree():
    env = _environment()
    wrong = {
        name: (str(req.specifier), env[name])
        for name, req in _pyproject_requirements().items()
        if name in env and _lower_bound(str(req.specifier)) != _lower_bound(env[name])
    }
    assert not wrong, f"lower bounds differ (pyproject, environment.yml): {wrong}"


def test_markers_are_only_python_version():
    # conda cannot express markers; only a Python-version marker may be dropped that way.
    odd = [str(r) for r in _pyproject_requirements().values() if r.marker and "python_version" not in str(r.marker)]
    assert not odd, f"markers environment.yml cannot represent: {odd}"


def test_environment_yml_has_nothing_unexplained():
    extra = sorted(set(_environment()) - set(_pyproject_requirements()) - TOOLING)
    assert not extra, f"in environment.yml but neither in pyproject.toml nor known tooling: {extra}"
