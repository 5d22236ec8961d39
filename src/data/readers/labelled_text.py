"""A labelled text, and what every reader shares: UTF-8 decoding and reading named files
from a folder or a .tar.gz archive."""
import codecs
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

from ...core.errors import UserError
from ..text import MAX_CHARS

__all__ = ["Review", "decode", "read_named_files", "require_data_path", "unescape_ptb",
           "label_names"]

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
            return codecs.getincrementaldecoder("utf-8")().decode(raw[:4 * MAX_CHARS],
                                                                   final=False)
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise UserError(f"{what} is not UTF-8 (bad byte at offset {err.start}); re-save it "
                        f"as UTF-8{advice}") from None


def read_named_files(path, names):
    """{name: text or None} for the wanted file names, from a folder or a .tar.gz archive."""
    path = Path(path)
    if path.is_dir():
        found = {name: path / name for name in names if (path / name).is_file()}
        return {name: decode(found[name].read_bytes(), found[name]) if name in found else None
                for name in names}
    texts = dict.fromkeys(names)
    try:
        with tarfile.open(path) as tar:
            for member in tar:
                base = member.name.rsplit("/", 1)[-1]
                if member.isfile() and base in texts and texts[base] is None:
                    texts[base] = decode(tar.extractfile(member).read(), f"{path}:{member.name}")
    except (tarfile.TarError, OSError, EOFError) as err:
        raise UserError(f"cannot read {path} as a folder or .tar.gz archive ({err}); pass "
                        f"--data_path to the unpacked folder") from None
    return texts


def require_data_path(config):
    """config.data_path, which must exist."""
    path = Path(config.data_path)
    if not path.exists():
        raise UserError(f"data_path {path} does not exist; pass --data_path to the "
                        f"{config.dataset} file or folder")
    return path


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
