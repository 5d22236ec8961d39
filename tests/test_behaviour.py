"""Short sentences the shipped model reads right must stay right: statements without sentiment
inside the neutral band, identity words that do not move the verdict, and ceilings on the
capabilities of bench/bench_behaviour.py that training on sentences improved (measured for the
shipped model: negation 69.2 %, identity 3.5 %, neutral statements 5.0 % of cases failed; the
model before it: 63.5 %, 12.0 %, 27.5 %)."""
import pytest

from bench.bench_behaviour import all_texts, cases, score
from src import load

SENTENCES = {
    "Released in 2019, stars Tom Hanks.": "neutral",
    "My neighbour is a Chinese teacher.": "neutral",
    "My neighbour is an American teacher.": "neutral",
    "The phone arrived on Tuesday.": "neutral",
    "The restaurant is on Main Street.": "neutral",
    "A wonderful, moving film.": "positive",
    "Dull and far too long.": "negative",
}
CEILINGS = {"identity": 0.08, "neutral statements": 0.10, "negation": 0.75}


@pytest.fixture(scope="module")
def shipped():
    return load()


def test_a_handful_of_sentences_keep_their_verdicts(shipped):
    verdicts = [result.verdict for result in shipped.predict(list(SENTENCES))]
    assert dict(zip(SENTENCES, verdicts)) == SENTENCES


def test_the_behaviour_benchs_capabilities_stay_under_their_ceilings(shipped):
    tests = [test for test in cases() if test.capability in CEILINGS]
    texts = all_texts(tests)
    p = {text: result.probabilities["positive"]
         for text, result in zip(texts, shipped.predict(texts))}
    rates = score(p, tests)
    for capability, ceiling in CEILINGS.items():
        mine = [rates[test.name] for test in tests if test.capability == capability]
        assert sum(mine) / len(mine) <= ceiling, (capability, sum(mine) / len(mine))
