"""gui.cli_session.resume_target: which folder ``--resume`` continues, and what it says."""

from __future__ import annotations

from pathlib import Path

from gui.cli_session import resume_target


def _target(resume: bool, latest: Path | None, complete: bool, capsys):
    said: list[str] = []
    out = resume_target(resume, lambda: latest, lambda _folder: complete, "demo",
                        "demo on LOT/W1", said.append)
    return out, said, capsys.readouterr().out


def test_no_resume_is_a_new_run_without_looking(capsys, tmp_path):
    out, said, printed = _target(False, tmp_path, True, capsys)
    assert out == (None, False) and said == [] and printed == ""


def test_resume_continues_the_newest_unfinished_run(capsys, tmp_path):
    out, said, printed = _target(True, tmp_path, False, capsys)
    assert out == (tmp_path, False) and said == [] and printed == ""


def test_resume_of_a_complete_run_says_so_and_prints_its_folder(capsys, tmp_path):
    out, said, printed = _target(True, tmp_path, True, capsys)
    assert out == (tmp_path, True)
    assert said == ["the last run of demo is already complete; nothing to resume"]
    assert printed.strip() == str(tmp_path)


def test_resume_without_any_run_starts_a_new_one(capsys):
    out, said, printed = _target(True, None, False, capsys)
    assert out == (None, False)
    assert said == ["no run of demo on LOT/W1 to resume; starting a new one"]
    assert printed == ""
