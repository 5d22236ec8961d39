"""A labelled text, and what every reader shares: UTF-8 decoding and reading named files
from a folder or a .tar.gz archive, never more of a file than is kept (a review: its first
READ_LIMIT bytes; a table or tree file: lines of at most MAX_LINE characters)."""
import codecs
import io
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

from ...core.errors import UserError
from ..text import MAX_CHARS

__all__ = ["Review", "decode", "read_named_files", "require_data_path", "unescape_ptb",
           "label_names", "read_head", "read_text", "read_file_text", "require_file_or_folder",
           "READ_LIMIT", "MAX_LINE"]

READ_LIMIT = 4 * MAX_CHARS  # bytes of a review read: MAX_CHARS characters of any UTF-8 text
# characters of one line of a table or tree file: far above any review a table holds (csv
# allows 131,072 characters a field), so a longer line is a broken file, refused, not read
MAX_LINE = 1_000_000
_UNDECODABLE = re.compile("[\udc80-\udcff]")  # a byte that is not UTF-8, surrogate-escaped

# Penn Treebank escapes for brackets, as SST and the Kaggle phrases write them.
_PTB_ESCAPES = {"-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]", "-LCB-": "{",
                "-RCB-": "}"}
_PTB_ESCAPE = re.compile("|".join(map(re.escape, _PTB_ESCAPES)))
_NAMES = {2: ("negative", "positive"),
          3: ("negative", "neutral", "positive"),
          5: ("negative", "somewhat negative", "neutral", "somewhat positive", "positive")}


@dataclass
class Review:
    """One labelled text. label -1 marks a row without a label; group ties rows together
    (the sentence a phrase came from) so a validation split never cuts through it; target,
    when set, is the p(positive) training aims at instead of the label (an SST phrase's 5
    classes as 0, 0.25, 0.5, 0.75, 1)."""
    text: str
    label: int
    name: str
    group: str = None
    target: float = None


def decode(raw, what, advice="", bounded=False):
    """raw bytes as text, or a UserError naming `what` and the bad byte.

    bounded: decode only what tokenizing reads (the first MAX_CHARS characters; a character
    cut in half at the end is dropped), so a huge review costs no more than a long one.
    """
    try:
        if bounded:
            return codecs.getincrementaldecoder("utf-8")().decode(raw[:READ_LIMIT],
                                                                   final=False)
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise UserError(f"{what} is not UTF-8 (bad byte at offset {err.start}); re-save it "
                        f"as UTF-8{advice}") from None


def read_head(path, what):
    """The first READ_LIMIT bytes of the regular file at path (all that a review keeps)."""
    if not path.is_file():
        raise UserError(f"{what} is not a regular file (a folder, device or pipe); delete it "
                        f"or replace it with a text file")
    with path.open("rb") as stream:
        return stream.read(READ_LIMIT)


def read_text(stream, what, advice=""):
    """The UTF-8 text of a binary stream (a BOM dropped), read a line at a time: a line longer
    than MAX_LINE characters is refused (UserError) when MAX_LINE of it have been read, so a
    file that is one endless line costs MAX_LINE characters, not its size. A byte that is not
    UTF-8 is a UserError naming its offset."""
    bom = len(codecs.BOM_UTF8) if stream.peek(3)[:3] == codecs.BOM_UTF8 else 0
    reader = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape",
                              newline="")
    lines = []
    while line := reader.readline(MAX_LINE + 2):
        if len(line.rstrip("\r\n")) > MAX_LINE:
            raise UserError(f"{what}: line {len(lines) + 1} is longer than {MAX_LINE:,} "
                            f"characters; a review is read up to {MAX_CHARS:,} characters: "
                            f"shorten that line, or check that the file is text of lines")
        lines.append(line)
    reader.detach()
    text = "".join(lines)
    bad = _UNDECODABLE.search(text)
    if bad:
        offset = bom + len(text[:bad.start()].encode("utf-8", "surrogateescape"))
        raise UserError(f"{what} is not UTF-8 (bad byte at offset {offset}); re-save it as "
                        f"UTF-8{advice}")
    return text


def read_file_text(path):
    """The text of the file at path, as read_text reads it."""
    with Path(path).open("rb") as stream:
        return read_text(stream, path)


def require_file_or_folder(path, key):
    """path, which must be a folder or a regular file: a device such as /dev/zero or a pipe
    would be read forever (UserError naming the --key to change)."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{key} {path} does not exist; pass --{key} to the data's folder or "
                        f"file")
    if not (path.is_dir() or path.is_file()):
        raise UserError(f"{key} {path} is neither a folder nor a regular file (a device, pipe "
                        f"or socket); pass --{key} to the data's folder or file")
    return path


def read_named_files(path, names, key="data_path"):
    """{name: text or None} for the wanted file names, from a folder or a .tar.gz archive
    (key: the config key that names path, for messages)."""
    path = require_file_or_folder(path, key)
    if path.is_dir():
        found = {name: path / name for name in names if (path / name).is_file()}
        return {name: read_file_text(found[name]) if name in found else None
                for name in names}
    texts = dict.fromkeys(names)
    try:
        with tarfile.open(path) as tar:
            for member in tar:
                base = member.name.rsplit("/", 1)[-1]
                if member.isfile() and base in texts and texts[base] is None:
                    texts[base] = read_text(tar.extractfile(member), f"{path}:{member.name}")
    except (tarfile.TarError, OSError, EOFError) as err:
        raise UserError(f"cannot read {path} as a folder or .tar.gz archive ({err}); pass "
                        f"--{key} to the unpacked folder") from None
    return texts


def require_data_path(data_path, dataset):
    """data_path (a Path), which must exist: the file or folder of dataset (for the message)."""
    path = Path(data_path)
    if not path.exists():
        raise UserError(f"data_path {path} does not exist; pass --data_path to the "
                        f"{dataset} file or folder")
    return require_file_or_folder(path, "data_path")


def unescape_ptb(text):
    """'-LRB-' and friends back to brackets."""
    return _PTB_ESCAPE.sub(lambda m: _PTB_ESCAPES[m.group(0)], text)


def label_names(config):
    """The class names, index = label: negative .. positive for 2, 3 or 5 classes.

    Args:
        config: a Config (uses num_classes) or the number of classes itself.

    Returns:
        A tuple of num_classes strings; other class counts give "class 0", "class 1", ...
    """
    count = config if isinstance(config, int) else config.num_classes
    return _NAMES.get(count, tuple(f"class {i}" for i in range(count)))
