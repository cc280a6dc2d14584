"""The user guide's "Command line" section: its commands run as written.

Every ``skvae ...`` line of the section's literal blocks runs, in order, in
a folder holding the ``people.csv`` the section describes (a header, empty
cells); each must succeed, and the files they name must be what it says.
"""

import re
import shlex
from pathlib import Path

import numpy as np
import pandas as pd

from skvae._cli import main

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "user_guide.rst"


def _section_commands():
    text = GUIDE.read_text()
    section = text.split("\nCommand line\n------------\n", 1)[1]
    section = re.split(r"\n[^\n]+\n-{3,}\n", section, maxsplit=1)[0]  # up to the next section
    return [
        shlex.split(line.strip()) for line in section.splitlines() if line.startswith("   skvae ")
    ]


def _people(path):
    """The table the section shows: height, weight and age, some cells empty."""
    rng = np.random.default_rng(0)
    size = rng.normal(size=120)
    table = pd.DataFrame(
        {
            "height": np.round(170 + 8 * size + rng.normal(size=120), 1),
            "weight": np.round(72 + 9 * size + rng.normal(size=120), 1),
            "age": rng.integers(18, 80, size=120),
        }
    )
    table.loc[rng.random(120) < 0.15, "height"] = np.nan
    table.loc[rng.random(120) < 0.15, "weight"] = np.nan
    table.to_csv(path, index=False)
    return table


def test_the_section_shows_the_commands():
    commands = [argv[1] for argv in _section_commands()]
    assert commands == [
        "fit",
        "impute",
        "fit",
        "transform",
        "reconstruct",
        "score",
        "sample",
    ]


def test_the_commands_run_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    people = _people(tmp_path / "people.csv")
    for argv in _section_commands():
        assert argv[0] == "skvae"
        try:
            code = main(argv[1:])
        except SystemExit as exit_:  # argparse's own errors
            code = exit_.code
        captured = capsys.readouterr()
        assert code == 0, f"{shlex.join(argv)}: {captured.err}"
        assert captured.err == "", captured.err

    imputed = pd.read_csv(tmp_path / "people-imputed.csv")
    assert list(imputed.columns) == ["height", "weight", "age"]
    assert imputed.notna().all().all() and len(imputed) == len(people)
    observed = people.notna().to_numpy()
    np.testing.assert_array_equal(imputed.to_numpy()[observed], people.to_numpy()[observed])
    assert len(pd.read_csv(tmp_path / "latent.csv")) == len(people)
    assert list(pd.read_csv(tmp_path / "reconstructed.csv").columns) == list(people.columns)
    assert len(pd.read_csv(tmp_path / "drawn.csv")) == 10
