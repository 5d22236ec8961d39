"""Tokenizer and vocabulary: the exact text -> ids mapping shared by training and inference."""
import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np

from ..core.errors import UserError

__all__ = ["tokenize", "tokenizer_rules", "Vocab", "PAD", "UNK"]

PAD, UNK = "<pad>", "<unk>"
MAX_CHARS = 100_000  # a review longer than this is cut before tokenizing (bounds time and memory)

_MARKUP = re.compile(r"<[^>]{0,20}>")
_VARIATION = re.compile("[\ufe0e\ufe0f]")  # text / emoji presentation of the sign before
_CONTRACTION = re.compile(r"(n't|'s|'re|'ve|'ll|'d|'m)\b")
# GloVe 6B was tokenized PTB-style: "don't" -> "do n't", "it's" -> "it 's", punctuation alone.
_TOKEN = re.compile(r"n't|'(?:s|re|ve|ll|d|m)\b|[^\W_]+|[^\w\s]")


def tokenize(text):
    """Lower-case PTB-like tokens: markup such as <br /> dropped, punctuation split off.

    >>> tokenize("It wasn't good.<br /><br />Really!")
    ['it', 'was', "n't", 'good', '.', 'really', '!']
    """
    text = _MARKUP.sub(" ", _VARIATION.sub("", text[:MAX_CHARS].lower()))
    return _TOKEN.findall(_CONTRACTION.sub(r" \1", text))


def tokenizer_rules():
    """tokenize() as data, for a program without this package (export.py writes it beside an
    ONNX file): cut to max_chars, lower-case, delete `delete`, put a space for `markup`, a
    space before `contraction` matches, then the tokens are the matches of `token`."""
    return {"tokenizer": "ptb-lower-v1", "max_chars": MAX_CHARS, "lowercase": True,
            "delete": _VARIATION.pattern, "markup": _MARKUP.pattern,
            "contraction": _CONTRACTION.pattern, "token": _TOKEN.pattern, "unknown": UNK}


class Vocab:
    """Token <-> id table. Id 0 is padding, id 1 stands for every unknown token."""

    def __init__(self, tokens):
        self.tokens = list(tokens)
        self.index = {token: i for i, token in enumerate(self.tokens)}

    @classmethod
    def build(cls, token_lists, min_freq, max_size):
        """Most frequent tokens first (ties in first-seen order), at most max_size in all."""
        counts = Counter()
        for tokens in token_lists:
            counts.update(tokens)
        kept = [t for t, c in counts.most_common() if c >= min_freq]
        return cls([PAD, UNK] + kept[: max(0, max_size - 2)])

    def extended(self, words, max_size):
        """This vocabulary plus the new words, in their order, up to max_size entries."""
        tokens, known = list(self.tokens), set(self.tokens)
        for word in words:
            if len(tokens) >= max_size:
                break
            if word not in known:
                tokens.append(word)
                known.add(word)
        return Vocab(tokens)

    def __len__(self):
        return len(self.tokens)

    @staticmethod
    def kept(tokens, max_len, truncate="head"):
        """The tokens the network reads: a longer text keeps its first max_len tokens
        (truncate "head"), or its first and last max_len / 2 (truncate "head_tail": a
        review's verdict is often in its last lines)."""
        if truncate == "head_tail" and len(tokens) > max_len:
            return tokens[:max_len // 2] + tokens[len(tokens) - (max_len - max_len // 2):]
        return tokens[:max_len]

    def encode(self, tokens, max_len, truncate="head"):
        """Ids of the kept tokens (unknown ones as UNK), as an int32 array of 1..max_len."""
        unk = self.index[UNK]
        ids = [self.index.get(token, unk) for token in self.kept(tokens, max_len, truncate)]
        return np.asarray(ids or [unk], dtype=np.int32)

    def digest(self):
        """A short hash of the tokens in id order: equal vocabularies, equal digests."""
        return hashlib.sha256(json.dumps(self.tokens, ensure_ascii=False).encode()).hexdigest()[:16]

    def save(self, path):
        """Write vocab.json (into a cache folder that is itself built under a temp name)."""
        Path(path).write_text(json.dumps({"tokenizer": "ptb-lower-v1", "tokens": self.tokens},
                                         ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path):
        try:
            content = json.loads(Path(path).read_text(encoding="utf-8"))
            tokens = content["tokens"]
        except FileNotFoundError:
            raise UserError(f"vocabulary {path} not found; run train.py first (it writes "
                            f"vocab.json into run_dir)") from None
        except (ValueError, KeyError, TypeError):
            raise UserError(f"vocabulary {path} is not a vocab.json written by this project; "
                            f"use the one from the training run") from None
        return cls(tokens)
