"""Paths the tests need (one place): the repository root."""

from pathlib import Path

#: the repository root (the folder holding pyproject.toml)
REPO = Path(__file__).resolve().parents[1]
