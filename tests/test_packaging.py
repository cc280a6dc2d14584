"""The declared versions are the tested ones: pyproject.toml, the constraints and nox agree."""

import ast
import re
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
NOXFILE = (ROOT / "noxfile.py").read_text()

# Top-level modules skvae imports that are not the name of their distribution.
DISTRIBUTION_OF = {"sklearn": "scikit-learn"}


#: Extras that no CI session installs (the mixed benchmark's data and peers):
#: bounded below like every requirement, but not pinned by the minimum session.
UNTESTED_EXTRAS = ("benchmarks",)


def _declared_requirements(*, tested_only=False):
    """Every requirement of pyproject.toml but the extras' references to skvae itself."""
    project = PYPROJECT["project"]
    extras = project["optional-dependencies"]
    strings = [
        *PYPROJECT["build-system"]["requires"],
        *project["dependencies"],
        *(
            r
            for name, extra in extras.items()
            if not (tested_only and name in UNTESTED_EXTRAS)
            for r in extra
        ),
    ]
    return [r for r in map(Requirement, strings) if canonicalize_name(r.name) != "skvae"]


def _lower_bound(requirement):
    (bound,) = [s for s in requirement.specifier if s.operator == ">="]
    return Version(bound.version)


def _pins():
    pins = {}
    for line in (ROOT / ".ci" / "minimum-versions.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[canonicalize_name(name)] = Version(version)
    return pins


def _nox_constant(name):
    return re.search(rf'^{name} = "([^"]+)"$', NOXFILE, re.MULTILINE).group(1)


# The only upper bounds, each for a release whose metadata admits a broken
# install (pyproject.toml says why).
UPPER_BOUNDS = {"onnx": "<1.19"}


def test_every_requirement_has_a_lower_bound_and_no_upper_bound():
    for requirement in _declared_requirements():
        operators = {s.operator for s in requirement.specifier}
        upper = UPPER_BOUNDS.get(canonicalize_name(requirement.name))
        if upper is not None:
            assert upper in {str(s) for s in requirement.specifier}, requirement
            operators -= {"<"}
        assert operators == {">="}, requirement


# Extras whose lower bound cannot install beside the lowest TensorFlow, so
# that the minimum session leaves them out: jax 0.6 needs ml_dtypes 0.5,
# which TensorFlow allows from 2.19 on.
NOT_IN_MINIMUM = {"jax"}


def test_the_minimum_session_pins_exactly_the_declared_lower_bounds():
    declared = {
        canonicalize_name(r.name): _lower_bound(r)
        for r in _declared_requirements(tested_only=True)
    }
    assert _pins() == {name: v for name, v in declared.items() if name not in NOT_IN_MINIMUM}


def test_the_minimum_session_runs_the_oldest_declared_python():
    oldest = _nox_constant("OLDEST_PYTHON")
    assert SpecifierSet(PYPROJECT["project"]["requires-python"]) == SpecifierSet(f">={oldest}")


def test_classifiers_name_the_pythons_that_ci_tests():
    oldest, newest = (Version(_nox_constant(n)) for n in ("OLDEST_PYTHON", "NEWEST_PYTHON"))
    classified = {
        Version(c.rsplit(" :: ", 1)[1])
        for c in PYPROJECT["project"]["classifiers"]
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    }
    expected = {Version(f"3.{minor}") for minor in range(oldest.minor, newest.minor + 1)}
    assert classified == expected


def test_ci_runs_every_nox_session():
    sessions = re.search(r"^nox\.options\.sessions = (\[.*\])$", NOXFILE, re.MULTILINE).group(1)
    ci_script = (ROOT / ".ci" / "run").read_text()
    ci_sessions = re.search(r"nox\" .*--sessions ([\w ]+)$", ci_script, re.MULTILINE).group(1)
    # `tests` is the README's command, which .ci/run runs itself.
    assert set(ast.literal_eval(sessions)) - {"tests"} == set(ci_sessions.split())


def _imported_top_level_modules():
    modules = set()
    for path in (ROOT / "skvae").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules.add(node.module.split(".")[0])
    return modules - set(sys.stdlib_module_names) - {"skvae"}


def test_every_imported_package_is_declared():
    project = PYPROJECT["project"]
    runtime = {canonicalize_name(Requirement(r).name) for r in project["dependencies"]}

    def extra(name):
        return {
            canonicalize_name(Requirement(r).name) for r in project["optional-dependencies"][name]
        }

    # Only these may be optional: each is imported on first use by the module
    # that needs it (skvae.plotting, skvae.dask, skvae.onnx, the command line's
    # tables), never by `import skvae`.
    optional = {"matplotlib": extra("plot"), "dask": extra("distributed"), "pandas": extra("cli")}
    optional.update(dict.fromkeys(["onnx", "skl2onnx"], extra("onnx")))
    # Only skvae._backends.jax, which Keras' JAX backend alone imports.
    optional["jax"] = extra("jax")
    for module in _imported_top_level_modules():
        distribution = canonicalize_name(DISTRIBUTION_OF.get(module, module))
        declared = runtime | optional.get(distribution, set())
        assert distribution in declared, f"skvae imports {module} but does not declare it"
