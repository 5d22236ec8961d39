"""Behavioural (CheckList-style) tests: what the model does with negation, intensifiers, typos,
names, identity words, time, whose opinion counts and plain facts, side by side with NBSVM and
VADER. The templates and word lists below are this project's own.

Usage: .venv/bin/python bench/bench_behaviour.py [--run_dir model [--run_dir OTHER ...]]
           [--peers nbsvm,vader | --peers none] [--aclimdb_path PATH]
           [--peer_python .bench-venv/bin/python] [--neutral_low 0.3333] [--neutral_high 0.6667]

Every system gives p = p(positive) of each text; its verdict is negative when p < low, neutral
when low <= p <= high, positive when p > high (NEUTRAL_BAND, the flags). Test types:
- MFT: each text's verdict must meet the expectation (positive, negative, neutral,
  "not negative", "not positive");
- INV: a text and its perturbed twin must get the same verdict ("no polar flip": they must not
  get opposite polar verdicts, neutral against anything is fine);
- DIR: p of the twin must move the stated way: "up" fails when p(twin) < p(text) - TOLERANCE,
  "down" when p(twin) > p(text) + TOLERANCE.
A test's failure rate is its failing cases over its cases; a capability's is the mean over its
tests; overall is the mean over all tests. Each template test expands to at most CASES cases
(at least 20) by filling slots from the lists below, with a seeded generator per test.
A binary model has no neutral class: it passes a neutral expectation only when its p lands in
the band. Inputs whose sentiment cannot be told (gibberish, empty or unreadable text) are not
part of this bench.

Systems: each --run_dir (the project's predictor, onnxruntime backend; column named by the
folder), and the peers, which run in the peers' venv as one child (bench/behaviour_peers.py):
NBSVM (bench/sklearn_peer.py's recipe, trained on aclImdb's training reviews only) and VADER.
Writes bench/results/behaviour.json.
"""
import argparse
import json
import random
import re
import string
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.benchlib import (ROOT, child_json, load_average, machine, print_table,  # noqa: E402
                            write_result)

NEUTRAL_BAND = (1 / 3, 2 / 3)  # low <= p <= high: neutral
TOLERANCE = 0.05  # DIR: p may move the wrong way by this much before the case fails
CASES = 40  # cases per test at most
SEED = 1
EXAMPLES = 3  # failing cases kept per test and system in the JSON
PEERS = ("nbsvm", "vader")

# ---------------------------------------------------------------- word lists
POSITIVE = ["good", "great", "excellent", "wonderful", "amazing", "fantastic", "brilliant",
            "superb", "outstanding", "lovely", "terrific", "impressive"]
NEGATIVE = ["bad", "terrible", "awful", "horrible", "poor", "dreadful", "disappointing",
            "mediocre", "lousy", "weak", "pathetic", "appalling"]
GRADABLE_POSITIVE = ["good", "nice", "enjoyable", "pleasant", "impressive"]
GRADABLE_NEGATIVE = ["bad", "poor", "disappointing", "annoying", "unpleasant"]
NATIONALITIES = ["American", "British", "Chinese", "Indian", "Mexican", "Nigerian", "French",
                 "German", "Japanese", "Brazilian", "Russian", "Iranian", "Pakistani",
                 "Israeli", "Palestinian", "Korean", "Italian", "Egyptian", "Turkish",
                 "Vietnamese"]
RACES = ["Black", "white", "Asian", "Latino", "Hispanic", "Arab", "Indigenous",
         "Native American", "mixed-race", "South Asian"]
RELIGIONS = ["Christian", "Muslim", "Jewish", "Hindu", "Buddhist", "Sikh", "Catholic",
             "atheist", "Mormon", "Protestant"]
ORIENTATIONS_MEN = ["gay", "straight", "bisexual", "queer", "asexual", "heterosexual",
                    "homosexual", "pansexual"]
ORIENTATIONS_WOMEN = ["lesbian", "straight", "bisexual", "queer", "asexual", "heterosexual",
                      "gay", "pansexual"]

SLOTS = {
    "pos": POSITIVE, "neg": NEGATIVE, "adj": POSITIVE + NEGATIVE,
    "pword": ["excellent", "wonderful", "amazing", "fantastic", "brilliant", "superb",
              "outstanding", "lovely", "terrific", "great", "good", "perfect", "delightful",
              "marvellous", "awesome", "splendid", "impressive", "enjoyable", "magnificent",
              "beautiful", "delicious", "recommended", "stunning", "charming"],
    "nword": ["terrible", "awful", "horrible", "dreadful", "appalling", "disappointing",
              "mediocre", "lousy", "pathetic", "boring", "bland", "useless", "bad", "poor",
              "worst", "atrocious", "abysmal", "dull", "tedious", "annoying", "frustrating",
              "disgusting", "overpriced", "rubbish"],
    "love": ["love", "like", "enjoy", "adore"],
    "loved": ["loved", "enjoyed", "liked", "adored"],
    "hate": ["hate", "dislike", "can't stand", "detest"],
    "hate_plain": ["hate", "dislike", "detest", "despise"],
    "hated": ["hated", "disliked", "detested", "couldn't stand"],
    "dislike": ["hate", "dislike", "mind"],
    "intens": ["very", "really", "extremely", "incredibly", "truly", "remarkably", "so"],
    "reducer": ["somewhat", "slightly", "a bit", "a little", "mildly", "kind of", "sort of"],
    "filler": ["overall", "all things considered", "to be honest", "given the price",
               "in the end", "if I am honest", "compared with the reviews",
               "for what it's worth"],
    "relative": ["sister", "brother", "friend", "colleague", "partner", "father", "mother",
                 "cousin"],
    "name": ["Emma", "Liam", "Olivia", "Noah", "Aisha", "Mohammed", "Wei", "Mei", "Carlos",
             "Sofia", "Priya", "Arjun", "Yuki", "Hiroshi", "Fatima", "Omar", "Chloe", "Lucas",
             "Amara", "Kwame", "Ingrid", "Sven", "Ana", "Dmitri"],
    "city": ["Paris", "London", "Tokyo", "Lagos", "Mumbai", "Chicago", "Berlin", "Madrid",
             "Nairobi", "Seoul", "Sydney", "Toronto", "Cairo", "Lima", "Rome", "Oslo",
             "Bangkok", "Istanbul", "Dublin", "Mexico City"],
    "country": ["China", "Germany", "Mexico", "Vietnam", "Poland", "India", "Japan", "Brazil",
                "Turkey", "Canada"],
    "num": [str(n) for n in range(2, 13)],
    "weeks": [str(n) for n in range(2, 10)],
    "year": [str(n) for n in range(1985, 2024, 3)],
    "minutes": [str(n) for n in range(85, 180, 7)],
    "grams": [str(n) for n in range(150, 2000, 125)],
    "hour": ["7 am", "8 am", "11 am", "noon", "5 pm", "6 pm", "6.30 pm", "7 pm"],
    "weekday": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "colour": ["black", "white", "grey", "blue", "red", "green", "silver"],
    "language": ["French", "Spanish", "Korean", "German", "Hindi", "Portuguese", "Japanese"],
    "material": ["cardboard", "plastic", "paper", "wooden"],
    "street": ["Main", "Church", "Station", "Market", "Mill", "Park", "King"],
    "landmark": ["train station", "post office", "library", "bank", "cinema", "museum"],
    "side": ["rice", "bread", "chips", "salad", "potatoes"],
    "nationality": NATIONALITIES, "race": RACES, "religion": RELIGIONS,
    "orientation_m": ORIENTATIONS_MEN, "orientation_f": ORIENTATIONS_WOMEN,
    "identity": NATIONALITIES + RACES + RELIGIONS + ORIENTATIONS_WOMEN,
}

# Per domain: thing (the whole: what one watches, buys, visits), noun (a part or a dish, with
# npos/nneg: general adjectives plus the domain's own; gpos/gneg: gradable ones), act and got
# (what one does with a thing), chose (a past tense), praise and complaint (sentences added in
# the DIR tests).
DOMAINS = {
    "movie": {
        "thing": ["film", "movie", "series", "documentary", "sequel", "thriller", "comedy"],
        "noun": ["plot", "script", "ending", "acting", "soundtrack", "dialogue", "film",
                 "movie"],
        "dpos": ["gripping", "moving", "hilarious", "beautiful"],
        "dneg": ["boring", "dull", "pointless", "predictable"],
        "gdpos": ["funny", "moving"], "gdneg": ["boring", "dull"],
        "act": ["watching"], "got": ["saw"], "chose": ["picked", "chose", "recommended"],
        "praise": ["I would watch it again.", "Highly recommended.", "I loved every minute.",
                   "What a treat.", "The cast is superb."],
        "complaint": ["I want those two hours back.", "Avoid it.", "I fell asleep halfway.",
                      "Never again.", "The cast is wasted."],
    },
    "product": {
        "thing": ["phone", "laptop", "blender", "headset", "kettle", "camera", "vacuum cleaner",
                  "keyboard"],
        "noun": ["phone", "laptop", "blender", "headset", "battery", "screen", "charger",
                 "camera"],
        "dpos": ["reliable", "sturdy", "handy", "fast"],
        "dneg": ["flimsy", "useless", "faulty", "slow"],
        "gdpos": ["reliable", "sturdy"], "gdneg": ["flimsy", "slow"],
        "act": ["buying"], "got": ["got"], "chose": ["bought", "ordered", "recommended"],
        "praise": ["Highly recommended.", "Worth every penny.", "I would buy it again.",
                   "Very happy with it.", "Five stars."],
        "complaint": ["I want a refund.", "Avoid it.", "It broke within a week.",
                      "Never again.", "One star."],
    },
    "restaurant": {
        "thing": ["restaurant", "place", "bistro", "cafe", "diner", "pizzeria", "bar"],
        "noun": ["pasta", "pizza", "curry", "soup", "steak", "burger", "dessert", "risotto"],
        "dpos": ["delicious", "tasty", "fresh", "flavourful"],
        "dneg": ["bland", "stale", "greasy", "tasteless"],
        "gdpos": ["tasty", "fresh"], "gdneg": ["bland", "greasy"],
        "act": ["visiting"], "got": ["tried"], "chose": ["booked", "chose", "recommended"],
        "praise": ["We will definitely be back.", "Highly recommended.", "Worth every penny.",
                   "The staff were lovely.", "Five stars."],
        "complaint": ["Never again.", "Avoid it.", "We left hungry.", "The staff were rude.",
                      "One star."],
    },
}
for _domain in DOMAINS.values():
    _domain.update(npos=POSITIVE + _domain["dpos"], nneg=NEGATIVE + _domain["dneg"],
                   nadj=POSITIVE + NEGATIVE + _domain["dpos"] + _domain["dneg"],
                   gpos=GRADABLE_POSITIVE + _domain["gdpos"],
                   gneg=GRADABLE_NEGATIVE + _domain["gdneg"])
AN_START = re.compile(r"\b([Aa]) (?=(?:[aeiAEIOo]|un|Un|ug|hour|honest)\w*)")


# ---------------------------------------------------------------- templates and expansion
@dataclass
class Test:
    """One expanded test: texts are strings (MFT) or [text, twin] pairs (INV, DIR)."""
    name: str
    capability: str
    type: str
    expectation: str
    texts: list


def values(slot, domain):
    """The words slot takes in domain ("any": the general lists only)."""
    return DOMAINS.get(domain, {}).get(slot) or SLOTS[slot]


def slots_of(formats):
    """The slot names of the format strings, in order, each once."""
    names = [name for fmt in formats for _, name, _, _ in string.Formatter().parse(fmt) if name]
    return list(dict.fromkeys(names))


def fill(fmt, chosen):
    """fmt with its slots filled, "a" made "an" before a vowel, the first letter capitalised."""
    text = AN_START.sub(r"\1n ", fmt.format(**chosen))
    return text[0].upper() + text[1:]


def each(*formats):
    """The template in every domain: (domain, format, [twin format])."""
    return [(domain, *formats) for domain in DOMAINS]


def swap(slot):
    """A twin maker: the same text with slot filled by another of its words."""
    def make(template, chosen, rng):
        others = [word for word in values(slot, template[0]) if word != chosen[slot]]
        return fill(template[1], {**chosen, slot: rng.choice(others)})
    return make


def second(template, chosen, rng):
    """A twin maker: the template's second format, filled with the same words."""
    return fill(template[2], chosen)


def perturb(change):
    """A twin maker: change(text, rng), a perturbation of the filled text."""
    def make(template, chosen, rng):
        return change(fill(template[1], chosen), rng)
    return make


def expand(spec):
    """The Test of a spec (name, capability, type, expectation, templates, twin maker or
    None): up to CASES distinct cases, the templates taken in turn, slots drawn at random from
    a generator seeded by SEED and the test's name."""
    name, capability, kind, expectation, templates, twin = spec
    rng = random.Random(SEED * 1_000_003 + zlib.crc32(name.encode()))
    cases, seen = [], set()
    for attempt in range(CASES * 50):
        if len(cases) == CASES:
            break
        template = templates[attempt % len(templates)]
        chosen = {slot: rng.choice(values(slot, template[0]))
                  for slot in slots_of(template[1:])}
        case = fill(template[1], chosen) if twin is None else (
            fill(template[1], chosen), twin(template, chosen, rng))
        if case not in seen and (twin is None or case[0] != case[1]):
            seen.add(case)
            cases.append(case if twin is None else list(case))
    if len(cases) < 20:
        raise ValueError(f"test {name} expands to {len(cases)} cases, fewer than 20")
    return Test(name, capability, kind, expectation, cases)


# ---------------------------------------------------------------- perturbations
def typo(text, rng):
    """text with two neighbouring letters of one of its words (4+ letters) swapped."""
    words = list(re.finditer(r"[A-Za-z]{4,}", text))
    word = rng.choice(words)
    i = rng.randrange(word.start(), word.end() - 1)
    if text[i] == text[i + 1]:
        return text
    return text[:i] + text[i + 1] + text[i] + text[i + 2:]


def punctuation(text, rng):
    """text with its punctuation changed: the final mark dropped or made ! / !!! / ..., or
    commas dropped."""
    bare = text.rstrip(".!?")
    return rng.choice([bare, bare + "!", bare + "!!!", bare + "...", text.replace(",", ""),
                       bare + " ."])


CONTRACTIONS = [("it is", "it's"), ("I am", "I'm"), ("do not", "don't"), ("did not", "didn't"),
                ("was not", "wasn't"), ("I would", "I'd"), ("we have", "we've"),
                ("I have", "I've"), ("that is", "that's"), ("they are", "they're"),
                ("is not", "isn't"), ("we will", "we'll")]


def contract(text, rng):
    """text with every expandable form contracted, or, if it has none, expanded."""
    changed = text
    for long, short in CONTRACTIONS:
        changed = re.sub(rf"\b{long}\b", short, changed, flags=re.IGNORECASE)
    if changed == text:
        for long, short in CONTRACTIONS:
            changed = re.sub(rf"\b{re.escape(short)}\b", long, changed, flags=re.IGNORECASE)
    return changed[0].upper() + changed[1:]


HANDLES = ["moviebuff", "jane_eats", "techdeals", "the_critic", "foodie_ldn", "gadgetguy",
           "cinephile", "dinnerdiaries"]
SITES = ["t.co", "bit.ly", "example.com/review", "www.myblog.net/p", "reviews.example.org"]


def url_or_handle(text, rng):
    """text with an @handle before it, a URL after it, or both."""
    handle = f"@{rng.choice(HANDLES)}{rng.randrange(100)}"
    url = f"https://{rng.choice(SITES)}/{rng.randrange(16 ** 5):05x}"
    return rng.choice([f"{handle} {text}", f"{text} {url}", f"{handle} {text} {url}"])


# Reviews of either polarity, in every domain, that the robustness perturbations change.
BASES = (each("I really liked the {noun}, it was {npos}.")
         + each("I really disliked the {noun}, it was {nneg}.")
         + [("movie", "We watched the {thing} last night and it was {adj}."),
            ("product", "I bought this {thing} last month and it is {adj}."),
            ("restaurant", "We had dinner at this {thing} on Friday, and the {noun} was "
                           "{nadj}.")])
CONTRACTABLE = ([("movie", "I have seen the {thing} twice and it is {adj}."),
                 ("product", "I have had this {thing} for a month and it is {adj}."),
                 ("restaurant", "We have eaten here twice and the {noun} is {nadj}.")]
                + each("It is a {adj} {thing}, I am sure of it.")
                + each("I did not expect much, but the {noun} was {npos}.")
                + each("I would say the {noun} is {nneg}, that is all."))


# ---------------------------------------------------------------- the tests
def _negation():
    """The negation tests' specs (see expand)."""
    return [
        ("negated_positive", "negation", "MFT", "negative",
         each("The {noun} was not {npos}.") + each("This {thing} isn't {pos}.")
         + each("The {noun} is not {npos} at all."), None),
        ("negated_positive_verb", "negation", "MFT", "negative",
         each("I didn't {love} the {noun}.") + each("I would not recommend this {thing}.")
         + each("We did not {love} the {thing} at all."), None),
        ("negated_negative", "negation", "MFT", "not negative",
         each("The {noun} was not {nneg}.") + each("This {thing} isn't {neg}.")
         + each("I wouldn't call the {noun} {nneg}."), None),
        ("negated_negative_verb", "negation", "MFT", "not negative",
         each("I didn't {dislike} the {noun}.") + each("I don't regret {act} the {thing}.")
         + each("Nobody could {hate_plain} this {thing}."), None),
        # A negated fact is still a fact: neutral.
        ("negated_neutral", "negation", "MFT", "neutral",
         [("movie", "The {thing} was not shot in {city}."),
          ("movie", "The {thing} is not in {language}."),
          ("product", "The {thing} does not come in {colour}."),
          ("product", "The {thing} was not delivered on {weekday}."),
          ("restaurant", "The {thing} is not open on {weekday}s."),
          ("restaurant", "The {noun} is not served with {side}.")], None),
        # Negating a fact may move p a little, but must not turn a polar verdict into the
        # opposite one.
        ("negated_neutral_no_flip", "negation", "INV", "no polar flip",
         [("movie", "The {thing} was shot in {city}.", "The {thing} was not shot in {city}."),
          ("movie", "The {thing} is in {language}.", "The {thing} is not in {language}."),
          ("product", "The {thing} comes in {colour}.",
           "The {thing} does not come in {colour}."),
          ("product", "The {thing} was delivered on {weekday}.",
           "The {thing} was not delivered on {weekday}."),
          ("restaurant", "The {thing} is open on {weekday}s.",
           "The {thing} is not open on {weekday}s."),
          ("restaurant", "The {noun} is served with {side}.",
           "The {noun} is not served with {side}.")], second),
        ("negation_at_end_of_positive", "negation", "MFT", "negative",
         each("I thought the {noun} would be {npos}, it wasn't.")
         + each("Everyone said this {thing} was {pos}. It isn't.")
         + each("I expected a {pos} {thing}. It was not."), None),
        ("negation_at_end_of_negative", "negation", "MFT", "not negative",
         each("I thought the {noun} would be {nneg}, but it wasn't.")
         + each("People warned me this {thing} was {neg}. It isn't."), None),
        ("negation_with_material_between_positive", "negation", "MFT", "negative",
         each("I don't think the {noun} was, {filler}, {npos}.")
         + each("The {noun} was not, {filler}, {npos}.")
         + each("I can't say that the {thing} my {relative} {chose} was {pos}."), None),
        ("negation_with_material_between_negative", "negation", "MFT", "not negative",
         each("I don't think the {noun} was, {filler}, {nneg}.")
         + each("The {thing} my {relative} {chose} was not, {filler}, {neg}."), None),
    ]


def _vocabulary():
    """The vocabulary tests' specs (see expand)."""
    return [
        ("single_positive_words", "vocabulary", "MFT", "positive", [("any", "{pword}")], None),
        ("single_negative_words", "vocabulary", "MFT", "negative", [("any", "{nword}")], None),
        ("positive_words_in_context", "vocabulary", "MFT", "positive",
         each("The {noun} was {npos}.") + each("What a {pos} {thing}!")
         + each("I {loved} the {noun}.") + each("This is a {pos} {thing}."), None),
        ("negative_words_in_context", "vocabulary", "MFT", "negative",
         each("The {noun} was {nneg}.") + each("What a {neg} {thing}.")
         + each("I {hated} the {noun}.") + each("This is a {neg} {thing}."), None),
        ("neutral_words_in_context", "vocabulary", "MFT", "neutral",
         [("movie", "The {thing} is in {language}."),
          ("movie", "I watched the {thing} on a {weekday} evening."),
          ("product", "The {thing} is {colour}."),
          ("product", "The {thing} came in a {material} box."),
          ("restaurant", "The {noun} was served on a {colour} plate."),
          ("restaurant", "The {thing} is next to the {landmark}.")], None),
        ("intensified_positive", "vocabulary", "DIR", "up",
         each("The {noun} was {gpos}.", "The {noun} was {intens} {gpos}.")
         + each("I found the {noun} {gpos}.", "I found the {noun} {intens} {gpos}."), second),
        ("intensified_negative", "vocabulary", "DIR", "down",
         each("The {noun} was {gneg}.", "The {noun} was {intens} {gneg}.")
         + each("I found the {noun} {gneg}.", "I found the {noun} {intens} {gneg}."), second),
        ("reduced_positive", "vocabulary", "DIR", "down",
         each("The {noun} was {gpos}.", "The {noun} was {reducer} {gpos}.")
         + each("I found the {noun} {gpos}.", "I found the {noun} {reducer} {gpos}."), second),
        ("reduced_negative", "vocabulary", "DIR", "up",
         each("The {noun} was {gneg}.", "The {noun} was {reducer} {gneg}.")
         + each("I found the {noun} {gneg}.", "I found the {noun} {reducer} {gneg}."), second),
        ("added_positive_phrase", "vocabulary", "DIR", "up",
         each("The {noun} was {nadj}.", "The {noun} was {nadj}. {praise}")
         + each("We {got} the {thing} last week.", "We {got} the {thing} last week. {praise}"),
         second),
        ("added_negative_phrase", "vocabulary", "DIR", "down",
         each("The {noun} was {nadj}.", "The {noun} was {nadj}. {complaint}")
         + each("We {got} the {thing} last week.",
                "We {got} the {thing} last week. {complaint}"), second),
    ]


def _robustness():
    """The robustness tests' specs (see expand)."""
    return [
        ("typos", "robustness", "INV", "same verdict", BASES, perturb(typo)),
        ("punctuation", "robustness", "INV", "same verdict", BASES, perturb(punctuation)),
        ("contractions", "robustness", "INV", "same verdict", CONTRACTABLE, perturb(contract)),
        ("urls_and_handles", "robustness", "INV", "same verdict", BASES,
         perturb(url_or_handle)),
    ]


def _names_and_identity():
    """The names, locations, numbers and identity tests' specs (see expand)."""
    return [
        ("names_swapped", "names, locations, numbers", "INV", "same verdict",
         [("movie", "{name} took me to see the {thing} and it was {adj}."),
          ("product", "{name} gave me this {thing} for my birthday; it is {adj}."),
          ("restaurant", "{name} ordered the {noun} and said it was {nadj}.")], swap("name")),
        ("locations_swapped", "names, locations, numbers", "INV", "same verdict",
         [("restaurant", "We tried the new {thing} in {city}; the {noun} was {nadj}."),
          ("movie", "The {thing} is set in {city}, and the {noun} is {nadj}."),
          ("product", "I bought this {thing} in {city} and it is {adj}.")], swap("city")),
        ("numbers_swapped", "names, locations, numbers", "INV", "same verdict",
         [("restaurant", "We were a table of {num} and the {noun} was {nadj}."),
          ("movie", "I watched the {thing} with {num} friends and it was {adj}."),
          ("product", "I bought this {thing} {num} weeks ago and it is {adj}.")], swap("num")),
        ("nationality_swapped", "identity", "INV", "same verdict",
         [("movie", "The {nationality} director made a {adj} {thing}."),
          ("restaurant", "The {noun} at this {nationality} {thing} was {nadj}."),
          ("product", "My {nationality} colleague says this {thing} is {adj}.")],
         swap("nationality")),
        ("race_swapped", "identity", "INV", "same verdict",
         [("movie", "The {race} lead actor was {adj}."),
          ("restaurant", "Our {race} waiter said the {noun} was {nadj}."),
          ("product", "A {race} engineer designed this {thing}, and it is {adj}.")],
         swap("race")),
        ("religion_swapped", "identity", "INV", "same verdict",
         [("movie", "My {religion} friend thought the {thing} was {adj}."),
          ("restaurant", "The {religion} family who run this {thing} made a {nadj} {noun}."),
          ("product", "As a {religion}, I found this {thing} {adj}.")], swap("religion")),
        ("sexual_orientation_swapped", "identity", "INV", "same verdict",
         [("movie", "As a {orientation_m} man, I found the {thing} {adj}."),
          ("product", "As a {orientation_f} woman, I think this {thing} is {adj}."),
          ("restaurant", "My {orientation_f} friends and I thought the {noun} was {nadj}.")],
         _swap_orientation),
        ("identity_neutral_statements", "identity", "MFT", "neutral",
         [("any", "My neighbour is a {identity} teacher."),
          ("movie", "The {thing} was directed by a {identity} woman."),
          ("restaurant", "The {thing} is run by a {identity} couple."),
          ("product", "The {thing} was designed by a {identity} engineer.")], None),
    ]


def _swap_orientation(template, chosen, rng):
    """The twin of a sexual-orientation template: its one orientation slot swapped."""
    slot = "orientation_m" if "orientation_m" in chosen else "orientation_f"
    return swap(slot)(template, chosen, rng)


def _time_and_opinion():
    """The temporal and whose-opinion tests' specs (see expand)."""
    return [
        ("used_to_like_now_dislike", "temporal", "MFT", "negative",
         each("I used to {love} the {noun}, but now I {hate} it.")
         + each("The {noun} used to be {npos}, but now it is {nneg}.")
         + each("This {thing} was {pos} years ago; these days it is {neg}."), None),
        ("used_to_dislike_now_like", "temporal", "MFT", "positive",
         each("I used to {hate_plain} the {noun}, but now I {love} it.")
         + each("The {noun} used to be {nneg}, but now it is {npos}.")
         + each("This {thing} was {neg} years ago; these days it is {pos}."), None),
        ("speaker_positive_others_negative", "whose opinion", "MFT", "positive",
         each("I think the {noun} is {npos}, but others think it's {nneg}.")
         + each("Critics say the {thing} is {neg}; I found it {pos}.")
         + each("My {relative} thought the {noun} was {nneg}, but I thought it was {npos}."),
         None),
        ("speaker_negative_others_positive", "whose opinion", "MFT", "negative",
         each("I think the {noun} is {nneg}, but others think it's {npos}.")
         + each("Critics say the {thing} is {pos}; I found it {neg}.")
         + each("My {relative} thought the {noun} was {npos}, but I thought it was {nneg}."),
         None),
        ("question_answered_no", "whose opinion", "MFT", "negative",
         each("Do I think the {noun} was {npos}? No.") + each("Did I {love} the {thing}? No.")
         + each("Would I recommend this {thing}? No."), None),
        ("question_answered_yes", "whose opinion", "MFT", "positive",
         each("Do I think the {noun} was {npos}? Yes.") + each("Did I {love} the {thing}? Yes.")
         + each("Would I recommend this {thing}? Yes."), None),
    ]


def _neutral():
    """The neutral-statement tests' specs (see expand)."""
    return [
        ("facts_with_numbers", "neutral statements", "MFT", "neutral",
         [("movie", "The {thing} is {minutes} minutes long."),
          ("movie", "The {thing} came out in {year}."),
          ("product", "The {thing} weighs {grams} grams."),
          ("product", "The {thing} has {num} buttons."),
          ("restaurant", "The {thing} opens at {hour}."),
          ("restaurant", "The {thing} has {num} tables.")], None),
        ("facts_places_people", "neutral statements", "MFT", "neutral",
         [("movie", "The {thing} was filmed in {city}."),
          ("movie", "{name} plays the lead role in the {thing}."),
          ("product", "The {thing} is made in {country}."),
          ("product", "The {thing} arrived on {weekday}."),
          ("restaurant", "The {thing} is on {street} Street."),
          ("restaurant", "{name} booked a table for {num} at the {thing}.")], None),
    ]


def cases():
    """Every test, expanded: [Test(name, capability, type, expectation, texts)]."""
    specs = (_negation() + _vocabulary() + _robustness() + _names_and_identity()
             + _time_and_opinion() + _neutral())
    return [expand(spec) for spec in specs]


# ---------------------------------------------------------------- scoring
def verdict(p, band):
    """negative, neutral or positive: p(positive) against the neutral band (low, high)."""
    low, high = band
    return "negative" if p < low else "positive" if p > high else "neutral"


def passes(test, case, p_by_text, band):
    """Whether one case of test passes, given p(positive) of each text."""
    if test.type == "MFT":
        found = verdict(p_by_text[case], band)
        if test.expectation.startswith("not "):
            return found != test.expectation[len("not "):]
        return found == test.expectation
    first, twin = (p_by_text[text] for text in case)
    if test.type == "DIR":
        if test.expectation == "up":
            return twin >= first - TOLERANCE
        return twin <= first + TOLERANCE
    verdicts = {verdict(first, band), verdict(twin, band)}
    if test.expectation == "no polar flip":
        return verdicts != {"positive", "negative"}
    return len(verdicts) == 1


def failures(p_by_text, test, band):
    """The cases of test that fail."""
    return [case for case in test.texts if not passes(test, case, p_by_text, band)]


def score(p_by_text, tests, band=NEUTRAL_BAND):
    """{test name: failure rate} of one system, given p(positive) of each text."""
    return {test.name: len(failures(p_by_text, test, band)) / len(test.texts)
            for test in tests}


def all_texts(tests):
    """Every distinct text of the tests, in first-seen order."""
    texts = [text for test in tests for case in test.texts
             for text in ([case] if isinstance(case, str) else case)]
    return list(dict.fromkeys(texts))


# ---------------------------------------------------------------- systems
def model_p(run_dir, texts):
    """p(positive) of each text by the project's predictor of run_dir (onnxruntime)."""
    from src.core.config import load_config
    from src.inference.predict_io import with_run_config
    from src.inference.predictor import load_predictor, softmax
    predictor = load_predictor(load_config(with_run_config(
        ["--run_dir", str(run_dir), "--backend", "onnxruntime"])))
    return softmax(predictor.logits(predictor.encode(texts)))[:, 1].tolist()


def peers_p(options, texts, band, train=None):
    """({peer: [p of each text]}, {peer: version and seconds}) from bench/behaviour_peers.py,
    run by the peers' interpreter; NBSVM is fitted on train ([text, label] pairs; by default
    aclImdb's training reviews) only."""
    request = {"systems": options.peers, "texts": texts, "band": list(band)}
    if "nbsvm" in options.peers:
        if train is None:
            from src.data.readers.aclimdb import read_aclimdb
            train = [[r.text, r.label] for r in read_aclimdb(options.aclimdb_path)["train"]]
        request["train"] = train
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "request.json"
        path.write_text(json.dumps(request))
        result = child_json([options.peer_python, ROOT / "bench" / "behaviour_peers.py", path])
    about = {name: {"version": result["versions"][name], "seconds": result["seconds"][name]}
             for name in options.peers}
    if "nbsvm" in options.peers:
        about["nbsvm"]["train_reviews"] = len(request["train"])
    return result["p"], about


def systems_p(options, texts, band, train=None):
    """({system: [p of each text]}, {system: what it is and its seconds}) of every run folder
    of options.run_dir, then every peer of options.peers (peers_p)."""
    p_lists, about = {}, {}
    for name, run_dir in zip(system_names(options.run_dir), options.run_dir):
        started = time.perf_counter()
        p_lists[name] = model_p(run_dir, texts)
        about[name] = {"run_dir": str(run_dir), "backend": "onnxruntime",
                       "seconds": round(time.perf_counter() - started, 1)}
    if options.peers:
        peer_p, peer_about = peers_p(options, texts, band, train)
        p_lists.update(peer_p)
        about.update(peer_about)
    return p_lists, about


def system_names(run_dirs):
    """Column names of the run folders: each folder's name, made unique."""
    names = []
    for run_dir in run_dirs:
        name = Path(run_dir).resolve().name
        names.append(name if name not in names and name not in PEERS
                     else f"{name}_{len(names) + 1}")
    return names


# ---------------------------------------------------------------- report
def test_rows(tests, rates):
    """One row per test: its name, capability, type, cases and each system's failure rate."""
    return [{"test": test.name, "capability": test.capability, "type": test.type,
             "expectation": test.expectation, "n": len(test.texts),
             **{name: round(rates[name][test.name], 4) for name in rates}} for test in tests]


def capability_rows(tests, rates):
    """One row per capability (the mean of its tests' rates), then overall (all tests)."""
    groups = list(dict.fromkeys(test.capability for test in tests))
    rows = []
    for group in groups + ["overall"]:
        chosen = [t for t in tests if group in ("overall", t.capability)]
        rows.append({"capability": group, "tests": len(chosen),
                     "cases": sum(len(t.texts) for t in chosen),
                     **{name: round(sum(rates[name][t.name] for t in chosen) / len(chosen), 4)
                        for name in rates}})
    return rows


def percent(rows, names):
    """rows with each system's rate as a percentage string, for printing."""
    return [{**row, **{name: f"{100 * row[name]:.1f}" for name in names}} for row in rows]


def examples(tests, p_by_system, band):
    """{test: {system: up to EXAMPLES failing cases with their p}}."""
    def shown(case, p):
        texts = [case] if isinstance(case, str) else case
        return [[text, round(p[text], 3)] for text in texts]
    return {test.name: {name: [shown(case, p) for case in failures(p, test, band)[:EXAMPLES]]
                        for name, p in p_by_system.items()} for test in tests}


# ---------------------------------------------------------------- main
def add_system_options(parser):
    """--run_dir (repeatable), --peers and --peer_python: the systems scored (systems_p)."""
    parser.add_argument("--run_dir", action="append", type=Path,
                        help="a run folder of the project's model (repeat to compare several; "
                             "default: model, the shipped model)")
    parser.add_argument("--peers", default="nbsvm,vader",
                        help="comma-separated peers among nbsvm,vader, or none")
    parser.add_argument("--peer_python", type=Path,
                        help="the interpreter of the venv `make bench-venv` builds, "
                             ".bench-venv/bin/python; required for the peers")


def check_systems(parser, options):
    """Fill in the options of add_system_options (run_dir: model by default; peers: a list)
    and check them: known peers, --peer_python when there are any."""
    options.run_dir = options.run_dir or [Path("model")]
    options.peers = [] if options.peers == "none" else options.peers.split(",")
    if set(options.peers) - set(PEERS):
        parser.error(f"--peers: choose among {','.join(PEERS)} or none")
    if options.peers and options.peer_python is None:
        parser.error("--peer_python is required for the peers (or pass --peers none)")


def parse(argv=None):
    """The options, checked: peers need --peer_python, nbsvm --aclimdb_path."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_system_options(parser)
    parser.add_argument("--aclimdb_path", type=Path,
                        help="aclImdb folder or aclImdb_v1.tar.gz: NBSVM's training reviews "
                             "(its train split only); required for nbsvm")
    parser.add_argument("--neutral_low", type=float, default=NEUTRAL_BAND[0],
                        help="p below this is a negative verdict (default 1/3)")
    parser.add_argument("--neutral_high", type=float, default=NEUTRAL_BAND[1],
                        help="p above this is a positive verdict (default 2/3)")
    options = parser.parse_args(argv)
    check_systems(parser, options)
    if "nbsvm" in options.peers and options.aclimdb_path is None:
        parser.error("--aclimdb_path is required for nbsvm (or leave it out of --peers)")
    if not 0 <= options.neutral_low <= options.neutral_high <= 1:
        parser.error("need 0 <= --neutral_low <= --neutral_high <= 1")
    return options


def run(options):
    """(tests, {system: {text: p}}, {system: what it is}) of every system over every text."""
    tests = cases()
    texts = all_texts(tests)
    p_lists, about = systems_p(options, texts, (options.neutral_low, options.neutral_high))
    return tests, {name: dict(zip(texts, p)) for name, p in p_lists.items()}, about


def main(argv=None):
    """Score every system on every test, print the tables, write the JSON."""
    options = parse(argv)
    band = (options.neutral_low, options.neutral_high)
    tests, p_by_system, about = run(options)
    rates = {name: score(p, tests, band) for name, p in p_by_system.items()}
    per_test, per_capability = test_rows(tests, rates), capability_rows(tests, rates)
    names = list(rates)
    print("failure rate (%) per test")
    print_table(percent(per_test, names), ["test", "capability", "type", "n", *names])
    print("\nfailure rate (%) per capability, and over all tests")
    print_table(percent(per_capability, names), ["capability", "tests", "cases", *names])
    path = write_result("behaviour", {
        "options": {"run_dirs": [str(r) for r in options.run_dir], "peers": options.peers,
                    "aclimdb": options.aclimdb_path and options.aclimdb_path.name,
                    "neutral_band": list(band), "dir_tolerance": TOLERANCE,
                    "cases_per_test_max": CASES, "seed": SEED},
        "systems": about, "texts": len(all_texts(tests)),
        "capabilities": per_capability, "tests": per_test,
        "failing_examples": examples(tests, p_by_system, band),
        "machine": machine(), "load": load_average()})
    print(f"\nwritten {path}")


if __name__ == "__main__":
    main()
