"""Progress bars on a terminal, nothing extra in logs and CI (tqdm only when stderr is a TTY)."""
import os
import sys

from tqdm import tqdm

__all__ = ["progress", "interactive", "bar"]


def interactive():
    return sys.stderr.isatty() and not os.environ.get("CI")


def progress(iterable, description, total=None, unit="it"):
    """Wrap an iterable in a tqdm bar when a person is watching; otherwise return it as is."""
    if not interactive():
        return iterable
    return tqdm(iterable, desc=description, total=total, unit=unit, leave=False,
                dynamic_ncols=True)


class _Silent:
    def update(self, count=1):
        pass

    def close(self):
        pass


def bar(total, description, unit, initial=0):
    """A tqdm bar of total units when a person is watching; otherwise one that does nothing."""
    if not interactive():
        return _Silent()
    return tqdm(total=total, initial=initial, desc=description, unit=unit, leave=False,
                dynamic_ncols=True)
