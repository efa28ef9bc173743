"""datasets' progress bars off while imitlm loads, maps and filters rows on the user's behalf: in a few seconds they
would fill a screen ("tokenizing", "Filter", "Flattening the indices"), whether from the command line or the Python
API. The setting is restored after, so a caller's own datasets work keeps its bars."""

from __future__ import annotations

import functools

import datasets


def without_progress_bars(function):
    """Decorate ``function`` so that datasets shows no progress bar while it runs."""

    @functools.wraps(function)
    def quiet(*args, **kwargs):
        if datasets.are_progress_bars_disabled():
            return function(*args, **kwargs)
        datasets.disable_progress_bars()
        try:
            return function(*args, **kwargs)
        finally:
            datasets.enable_progress_bars()

    return quiet
