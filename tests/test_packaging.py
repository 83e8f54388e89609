"""What `pip install .` ships: every folder of templates, static files and knowledge is a
declared package with its files, or setuptools warns "Package would be ignored" and a
future version leaves it out of the wheel."""
from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CODE = ("bot", "intents", "knowledge", "storage")


def test_every_folder_with_files_is_a_declared_package():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]
    declared = set(setuptools["packages"])
    folders = {".".join(d.relative_to(ROOT).parts) for top in CODE for d in [ROOT / top, *(ROOT / top).rglob("*")]
               if d.is_dir() and d.name != "__pycache__" and any(f.is_file() for f in d.iterdir())}
    assert folders - declared == set()


def test_every_data_file_is_matched_by_package_data():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]
    data = setuptools["package-data"]
    for package in setuptools["packages"]:
        folder = ROOT / package.replace(".", "/")
        for f in folder.iterdir():
            if f.is_file() and f.suffix != ".py":
                assert any(f.match(pattern) for pattern in data.get(package, [])), f
