"""Counterfactual swaps of identity words in the training text (--identity_swaps): each word
naming a nationality, religion, ethnicity or orientation becomes a random one of its kind;
validation and test text stays as written."""
import dataclasses

from src.data.identity import IDENTITY_WORDS, swap_identities
from src.data.mindrecord import eval_batches, prepare

SENTENCE = "my chinese neighbour and her muslim friend loved this black comedy".split()


def test_identity_words_become_random_words_of_their_kind():
    swaps = [swap_identities(SENTENCE, seed) for seed in range(40)]
    kept = [0, 2, 3, 4, 6, 7, 8, 9, 10]                           # "black" is left alone
    assert all([s[i] for i in kept] == [SENTENCE[i] for i in kept] for s in swaps)
    assert {s[1] for s in swaps} <= set(IDENTITY_WORDS["nationality"])
    assert {s[5] for s in swaps} <= set(IDENTITY_WORDS["religion"])
    assert len({s[1] for s in swaps}) > 10 and len({s[5] for s in swaps}) > 5
    assert swap_identities(SENTENCE, 7) == swap_identities(SENTENCE, 7)


def test_only_the_training_split_is_swapped(tiny_config, prepared, tmp_path):
    swapped = prepare(dataclasses.replace(tiny_config, identity_swaps=True,
                                          preprocess_path=str(tmp_path)), log=lambda *_: None)
    assert swapped.folder.name != prepared.folder.name
    kinds = {word for words in IDENTITY_WORDS.values() for word in words}

    def words(folder):
        return [[folder.vocab.tokens[i] for i in row] for row in folder.token_lists("train")]
    pairs = [(b, a) for row_b, row_a in zip(words(prepared), words(swapped))
             for b, a in zip(row_b, row_a) if b != a and "<unk>" not in (b, a)]
    assert pairs and all(b in kinds and a in kinds for b, a in pairs)  # the vocabularies
    # differ a little (the swaps move word counts), so rare words may read <unk> in one
    def test_words(folder):
        rows = eval_batches(tiny_config, folder.mindrecord("test"))
        return [[folder.vocab.tokens[i] for i in row[:n]] for ids, length, _ in
                rows.create_tuple_iterator(output_numpy=True) for row, n in zip(ids, length)]
    assert not [(b, a) for row_b, row_a in zip(test_words(prepared), test_words(swapped))
                for b, a in zip(row_b, row_a) if b != a and "<unk>" not in (b, a)]
