"""Progress bars on a terminal, nothing extra in logs and CI (tqdm only when stderr is a TTY)."""
import os
import sys

from tqdm import tqdm

__all__ = ["progress", "interactive"]


def interactive():
    return sys.stderr.isatty() and not os.environ.get("CI")


def progress(iterable, description, total=None):
    """Wrap an iterable in a tqdm bar when a person is watching; otherwise return it as is."""
    if not interactive():
        return iterable
    return tqdm(iterable, desc=description, total=total, leave=False, dynamic_ncols=True)
