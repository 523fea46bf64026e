"""Display callbacks of runs: called when set, their errors logged and never raised."""

import logging

from procedures.framework.callbacks import notify


def test_notify_calls_the_callback_with_its_arguments():
    seen = []
    notify(lambda *a: seen.append(a), 1, "two")
    assert seen == [(1, "two")]


def test_notify_skips_an_unset_callback():
    notify(None, 1)  # nothing to call, nothing raised


def test_a_failing_callback_is_logged_not_raised(caplog):
    def broken(_):
        raise RuntimeError("plot gone")

    with caplog.at_level(logging.ERROR, logger="procedures.framework.callbacks"):
        notify(broken, 3, what="progress")
    assert "progress callback failed" in caplog.text
    assert "plot gone" in caplog.text
