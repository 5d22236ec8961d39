"""Cut the bundled aclImdb sample out of the full aclImdb_v1.tar.gz (maintainers only).

Usage: python scripts/make_sample.py ../shared/data/aclImdb_v1.tar.gz data/aclImdb_sample
Picks a fixed, seeded set of reviews per split and label, keeping the original file names.
"""
import random
import sys
import tarfile
from pathlib import Path

PER_LABEL = {"train": 500, "test": 250}


def main(archive: str, out_dir: str) -> None:
    out = Path(out_dir)
    with tarfile.open(archive) as tar:
        members = {m.name: m for m in tar.getmembers() if m.isfile()}
        for split, count in PER_LABEL.items():
            for label in ("pos", "neg"):
                prefix = f"aclImdb/{split}/{label}/"
                names = sorted(n for n in members if n.startswith(prefix) and n.endswith(".txt"))
                for name in random.Random(f"{split}/{label}").sample(names, count):
                    target = out / split / label / Path(name).name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(tar.extractfile(members[name]).read())


if __name__ == "__main__":
    main(*sys.argv[1:3])
