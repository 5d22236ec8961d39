"""The one exception a user sees: a problem they can fix, shown as one line, exit code 2."""
import errno

__all__ = ["UserError", "USER_OS_ERRORS", "first_line"]


class UserError(Exception):
    """A problem the user can fix: shown as one line, exit code 2, no traceback."""


# Disk and permission problems anywhere (a full disk mid-write, a read-only folder) are the
# user's to fix, so they get the one-line treatment instead of a traceback.
USER_OS_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM,
                  errno.ENOTDIR, errno.EISDIR)


def first_line(err, width=100):
    """The first line of an exception's message (its type name if it has none), cut to width."""
    text = str(err).strip()
    return (text.splitlines()[0] if text else type(err).__name__)[:width]
