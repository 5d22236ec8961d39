"""Counterfactual swaps of identity words in the training text: each word naming a
nationality, religion, ethnicity or sexual orientation is replaced by a seeded random word of
the same kind, so that none of them can carry the sentiment of the reviews it happened to
occur in (counterfactual data augmentation, Lu et al. 2018). Words with other common senses
("black", "white", "straight", "trans") are left alone."""
import random

__all__ = ["IDENTITY_WORDS", "swap_identities"]

IDENTITY_WORDS = {
    "nationality": ("american", "british", "english", "french", "german", "italian", "spanish",
                    "chinese", "japanese", "korean", "indian", "mexican", "russian", "irish",
                    "canadian", "australian", "swedish", "brazilian", "polish", "greek",
                    "dutch", "turkish", "iranian", "egyptian", "nigerian", "vietnamese", "thai",
                    "filipino", "pakistani", "israeli", "scottish", "african", "european"),
    "religion": ("christian", "muslim", "jewish", "hindu", "buddhist", "sikh", "catholic",
                 "protestant", "mormon", "atheist"),
    "ethnicity": ("asian", "hispanic", "latino", "latina", "arab"),
    "orientation": ("gay", "lesbian", "bisexual", "queer", "homosexual", "heterosexual"),
}
_KIND = {word: words for words in IDENTITY_WORDS.values() for word in words}


def swap_identities(tokens, seed):
    """tokens with every identity word replaced by a random one of its kind (seeded)."""
    rng = random.Random(seed)
    return [rng.choice(_KIND[token]) if token in _KIND else token for token in tokens]
