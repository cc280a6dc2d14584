"""Print a test session's name, its Python and the installed version of every dependency.

    python .ci/versions.py SESSION [--expect CONSTRAINTS]

Reads the installed skvae's metadata (no import of skvae or TensorFlow), so
the log of each CI session says what it tested. With ``--expect``, exits
non-zero unless every pin in CONSTRAINTS that names a declared dependency is
the installed version: pip ignores a constraint on a package it does not
install, so a misspelt or stale pin would otherwise go unnoticed.
"""

import argparse
import platform
import re
import sys
from importlib import metadata


def _name(requirement):
    """The normalised project name at the start of a requirement string."""
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9._-]+", requirement).group()).lower()


#: Extras that no CI session installs (the benchmarks' data and peers): their
#: packages are neither pinned nor expected.
UNTESTED_EXTRAS = ("benchmarks",)


def _declared_names():
    """Names of skvae's dependencies and tested extras' dependencies, in declared order."""
    requirements = [
        r
        for r in metadata.requires("skvae") or []
        if not any(re.search(rf"extra\s*==\s*['\"]{e}['\"]", r) for e in UNTESTED_EXTRAS)
    ]
    names = [_name(r) for r in requirements]
    return [name for name in dict.fromkeys(names) if name != "skvae"]


def _pins(path):
    pins = {}
    for line in open(path, encoding="utf-8"):
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[_name(name)] = version.strip()
    return pins


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("session")
    parser.add_argument("--expect", metavar="CONSTRAINTS")
    args = parser.parse_args(argv)

    skvae = metadata.distribution("skvae")
    print(
        f"session {args.session}: Python {platform.python_version()} ({sys.executable}), "
        f"skvae {skvae.version}"
    )
    installed = {}
    for name in _declared_names():
        try:
            installed[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed[name] = None
    print("  " + ", ".join(f"{name} {version or '-'}" for name, version in installed.items()))

    if args.expect:
        wrong = [
            f"{name}: pinned {pin}, installed {installed[name]}"
            for name, pin in _pins(args.expect).items()
            if name in installed and installed[name] != pin
        ]
        if wrong:
            print(f"session {args.session}: not the pinned versions:", *wrong, sep="\n  ")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
