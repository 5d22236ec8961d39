"""The IMDB Large Movie Review Dataset (aclImdb v1): its labelled train and test reviews, from
the unpacked folder or straight from aclImdb_v1.tar.gz, and folders of unlabelled reviews.
Of each review only its first READ_LIMIT bytes are read: all that tokenizing keeps."""
import codecs
import tarfile
from pathlib import Path

from ...core.errors import UserError, first_line
from .labelled_text import READ_LIMIT, Review, decode, read_head, require_file_or_folder

__all__ = ["read_aclimdb", "read_text_folder", "LABELS", "SPLITS"]

LABELS = ("neg", "pos")
SPLITS = ("train", "test")


def _review_text(raw, name):
    text = decode(raw, f"review {name}", " or delete it", bounded=True)
    if not text.strip():
        raise UserError(f"review {name} is empty; delete it or give it text")
    return text


def _review_id(name):
    stem = Path(name).stem
    return int(stem.split("_")[0]) if stem.split("_")[0].isdigit() else 0


def _sorted(reviews):
    return sorted(reviews, key=lambda r: (r.label, _review_id(r.name), r.name))


def _read_folder(root):
    """{split: [Review]} from an unpacked aclImdb folder."""
    splits = {}
    for split in SPLITS:
        reviews = []
        for label, label_name in enumerate(LABELS):
            folder = root / split / label_name
            if not folder.is_dir():
                raise UserError(f"{root} has no {split}/{label_name}/ folder; point "
                                f"--aclimdb_path at the aclImdb folder that holds "
                                f"train/{{pos,neg}} and test/{{pos,neg}}")
            for path in folder.glob("*.txt"):
                name = f"{split}/{label_name}/{path.name}"
                reviews.append(Review(_review_text(read_head(path, f"review {name}"), name),
                                      label, name))
        splits[split] = _sorted(reviews)
    return splits


def _labelled_member(member):
    """(split, label, name) of an archive member that is a labelled review, else None."""
    parts = member.name.split("/")
    if (member.isfile() and len(parts) == 4 and parts[1] in SPLITS and parts[2] in LABELS
            and parts[3].endswith(".txt")):
        return parts[1], LABELS.index(parts[2]), "/".join(parts[1:])
    return None


def _read_archive(archive):
    """{split: [Review]} straight from aclImdb_v1.tar.gz, without unpacking it."""
    splits = {split: [] for split in SPLITS}
    try:
        with tarfile.open(archive) as tar:
            for member in tar:
                found = _labelled_member(member)
                if found:
                    split, label, name = found
                    raw = tar.extractfile(member).read(READ_LIMIT)  # the rest is skipped
                    splits[split].append(Review(_review_text(raw, name), label, name))
    except (tarfile.TarError, OSError, EOFError) as err:
        raise UserError(f"cannot read archive {archive} ({first_line(err).rstrip(':')}); "
                        f"download aclImdb_v1.tar.gz again or unpack it and pass the "
                        f"folder") from None
    for split in SPLITS:
        if not splits[split]:
            raise UserError(f"archive {archive} holds no aclImdb/{split}/pos|neg reviews; "
                            f"is it aclImdb_v1.tar.gz?")
    return {split: _sorted(reviews) for split, reviews in splits.items()}


def read_aclimdb(path):
    """Read every labelled review of aclImdb.

    Args:
        path: the unpacked aclImdb folder, or the aclImdb_v1.tar.gz archive itself.

    Returns:
        {"train": [Review], "test": [Review]}, each sorted by label then review id.
    """
    path = Path(path)
    if not path.exists():
        raise UserError(f"dataset path {path} does not exist; pass --aclimdb_path pointing at "
                        f"the aclImdb folder or aclImdb_v1.tar.gz")
    require_file_or_folder(path, "aclimdb_path")
    splits = _read_folder(path) if path.is_dir() else _read_archive(path)
    for split, reviews in splits.items():
        if len({r.label for r in reviews}) < 2:
            raise UserError(f"{path}: {split} has reviews of one label only; both pos and neg "
                            f"need reviews")
    return splits


def read_text_folder(folder, key="unlabelled_path"):
    """The texts of every *.txt file in folder (unlabelled reviews such as aclImdb/train/unsup),
    in name order, each up to its first READ_LIMIT bytes; bytes that are not UTF-8 are
    replaced."""
    paths = sorted(Path(folder).glob("*.txt"))
    if not paths:
        raise UserError(f"{key} {folder} holds no .txt reviews; point it at "
                        f"aclImdb/train/unsup or leave it empty")
    texts = []
    for path in paths:
        raw = read_head(path, f"{key} file {path}")  # a character cut at the end is dropped
        texts.append(codecs.getincrementaldecoder("utf-8")(errors="replace").decode(
            raw, final=len(raw) < READ_LIMIT))
    return texts
