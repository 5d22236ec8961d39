"""Put a trained run into model/, the model predict.py, app.py and `make serve` use by default.

Usage: .venv/bin/python scripts/ship_model.py RUN_DIR --results bench/results/recipes.json
           --recipe best --seed 1 [--vocab_rows 40000] [--check ACLIMDB] [--out model]
       (or --results bench/results/wide.json --recipe "model + wide": bench_wide.py's copy
       of a run with the linear part fitted into it, WORKDIR/run_wide)

Writes OUT/lstm-best.ckpt (float16 weights; with --vocab_rows, only the embedding rows of the
most frequent words, the others read as <unk>), vocab.json, config.yaml (the run's settings,
with no paths of the machine it was trained on), eval.json and MODEL_CARD.md (data, recipe,
the command that rebuilds it, accuracy overall and per length quartile from the bench row,
limits). --check measures the shipped model against the run's on that aclImdb's 25,000 test
reviews; the figures go into eval.json and the card.
"""
import argparse
import dataclasses
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from src import __version__  # noqa: E402
from src.core.config import Config, load_config, save_config  # noqa: E402
from src.model.checkpoint import load_params  # noqa: E402
from src.data.text import Vocab  # noqa: E402

NEUTRAL = ("aclimdb_path", "data_path", "glove_path", "preprocess_path", "unlabelled_path",
           "mix_sst_path", "pretrain_dir", "encoder_checkpoint", "checkpoint_file", "run_dir",
           "aim_repo", "config_path")


LOGITS = ("decoder.weight", "decoder.bias", "wide.table")  # logits = their sum: scaled alike


def _shrink(run_dir, out, rows, logit_scale=1.0):
    import mindspore as ms
    params = load_params(run_dir / "lstm-best.ckpt")  # its CRC32 checked
    vocab = Vocab.load(run_dir / "vocab.json")
    kept = []
    for name, value in params.items():
        if not hasattr(value, "asnumpy") or name in ("global_step",) or \
                name.startswith(("moment", "beta", "learning_rate")):
            continue
        array = value.asnumpy()
        if name == "embedding.embedding_table" and rows:
            array = array[:rows]
        if name == "wide.table" and rows:  # its word rows, then every word-pair row (src/model/wide.py)
            array = np.concatenate([array[:rows], array[len(vocab):]])
        if name in LOGITS:  # the verdict's sharpness, chosen on SST dev (bench_sentences.py)
            array = array * np.float32(logit_scale)
        if array.dtype == np.float32:
            array = array.astype(np.float16)
        kept.append({"name": name, "data": ms.Tensor(array)})
    shipped = Vocab(vocab.tokens[:rows] if rows else vocab.tokens)
    ms.save_checkpoint(kept, str(out / "lstm-best.ckpt"),
                       append_dict={"vocab_digest": shipped.digest()},
                       crc_check=True)  # checked at every load (src/model/checkpoint.py)
    shipped.save(out / "vocab.json")


def _config(config, out):
    """The run's config as model/ lists it: no paths of the machine it was trained on."""
    neutral = {name: getattr(Config(), name) for name in NEUTRAL}
    # the words shipped: a run started from an encoder read the encoder's, whatever vocab_size
    neutral.update(run_dir=".", vocab_size=len(Vocab.load(out / "vocab.json").tokens))
    # the data's name, not the bundled sample's path: eval.py on other reviews (the sample
    # among them) then writes eval-NAME.json and never replaces the card's figures
    neutral["aclimdb_path"] = Path(config.aclimdb_path).name
    shipped = dataclasses.replace(config, **neutral)
    save_config(shipped, out / "config.yaml")
    listed = yaml.safe_load((out / "config.yaml").read_text())
    listed.pop("config_path", None)
    (out / "config.yaml").write_text(yaml.safe_dump(listed, sort_keys=False))
    return shipped


def _check(run_dir, out, source, words):
    from src.data.readers.aclimdb import read_aclimdb
    from src.inference.compare import accuracy_of
    reviews = read_aclimdb(source)["test"]
    return {"reviews": len(reviews), "vocab_words": words,
            "run_accuracy": round(accuracy_of(run_dir, reviews), 5),
            "shipped_accuracy": round(accuracy_of(out, reviews), 5)}


def _trained_as(args):
    """(recipe, seed) of bench_recipes.py the run was trained with; bench_wide.py's copy of a
    shipped model carries that model's eval.json."""
    shipped = args.run_dir / "eval.json"
    if args.results.stem == "wide" and shipped.exists():
        record = json.loads(shipped.read_text())
        return record["recipe"], record["seed"]
    return args.recipe, args.seed


def _encoder_words(config):
    if config.encoder_checkpoint:
        return ("the encoder (embedding and BiLSTM) started from the pretrained one shipped in "
                "model/encoder/ (its CARD.md)")
    return "the encoder pretrained as a language model"


def _wide_words(config, wide):
    if not wide:
        return "."
    when = ("before the network's training" if config.wide
            else "after training, beside the trained network")
    return (f"; the linear part over word and word-pair counts (`--wide`) fitted on the "
            f"training reviews {when}, and mixed in at the scale validation chose.")


def _sst_words(config):
    if not config.mix_sst_path:
        return ""
    swaps = (" Words naming a nationality, religion, ethnicity or sexual orientation were "
             "swapped at random for others of their kind in the training text "
             "(`--identity_swaps`)." if config.identity_swaps else "")
    return (" Beside the reviews, the Stanford Sentiment Treebank's train trees (Socher et al., "
            f"2013): its 8,544 sentences and {config.mix_sst_phrases:,} of its other phrases, "
            "each graded 0-4 by people and learned as p(positive) = grade / 4, so that short "
            "sentences and neutral ones are seen; SST's dev and test sentences were read only "
            "to report." + swaps)


def _sentences_lines(sentences, system):
    """The card's table of SST and neutral figures, from bench_sentences.py's results."""
    percent = sentences.get("percent", {})
    if system not in percent:
        return []
    names = [name for name in (system, "nbsvm", "vader") if name in percent]
    columns = [("SST-2 test", "sst2_test"), ("SST-5 test (5-way reading of p)", "sst5_test"),
               ("neutral SST-5 test sentences read neutral", "neutral_read_neutral_test"),
               ("polar SST-5 test sentences not read neutral", "polar_not_neutral_test")]
    lines = ["", "**Sentences** (`bench/bench_sentences.py`, the same run; %):", "",
             "| | " + " | ".join("this model" if n == system else n for n in names) + " |",
             "| --- |" + " ---: |" * len(names)]
    for title, field in columns:
        lines.append(f"| {title} | " + " | ".join(f"{percent[n][field]:.1f}" for n in names)
                     + " |")
    return lines


def _behaviour_lines(behaviour, system):
    """The card's per-capability failure rates, from bench_behaviour.py's results."""
    systems = [s for s in behaviour.get("systems", []) if s in (system, "nbsvm", "vader")]
    if system not in systems:
        return []
    lines = ["", "**Behaviour** (`bench/bench_behaviour.py`: the share of short templated "
             "sentences in movie, product and restaurant language read wrong; lower is better; "
             "%):", "",
             "| capability | " + " | ".join("this model" if s == system else s
                                            for s in systems) + " |",
             "| --- |" + " ---: |" * len(systems)]
    for row in behaviour.get("capabilities", []):
        lines.append(f"| {row['capability']} | " + " | ".join(f"{100 * row[s]:.1f}"
                                                              for s in systems) + " |")
    return lines


def _scale_lines(scale):
    if scale == 1.0:
        return []
    return ["", f"**The verdict's sharpness.** The logits are multiplied by {scale:g}: the "
                "smallest scale whose negative / neutral / positive accuracy on SST's dev "
                "sentences lies within one standard error of the best "
                "(`bench/bench_sentences.py --scales`). Labels and accuracy do not change."]


def _card(config, row, check, args, wide, trained_as, sentences=None, behaviour=None,
          system=""):
    """config: the run's own (where its encoder came from, when its wide part was fitted);
    sentences, behaviour: bench_sentences.py's and bench_behaviour.py's results, whose
    `system` is this run."""
    recipe, seed = trained_as
    quartiles = row.get("test_acc_by_length_quartile", [])
    bounds = row.get("quartile_word_bounds", [])
    lines = [
        "# Model card: the shipped LSTM sentiment model",
        "",
        f"lstm-sentiment {__version__}",
        "",
        "**What it does.** Labels an English movie review or sentence positive or negative, "
        "with probabilities and each word's share in the decision (`predict.py --explain "
        "true`), and reads p(positive) as a verdict: negative below 1/3, neutral from 1/3 to "
        "2/3, positive above (`--neutral_low`, `--neutral_high`), or \"cannot tell\" when "
        "most of the words are unknown to it (another language, gibberish).",
        "",
        "**Data.** aclImdb v1 (Maas et al., 2011): trained on 22,500 of the 25,000 training "
        "reviews (2,500 held out for validation, which chose the checkpoint) and, for "
        "pretraining the encoder, the unlabelled reviews that are not copies of test reviews "
        "(49,730 of 50,000); the 25,000 test reviews were read only to report."
        + _sst_words(config),
        "",
        f"**Recipe.** `{recipe}` of `bench/bench_recipes.py`: embedding {config.embed_size}-d, "
        f"one bidirectional LSTM layer of {config.num_hiddens} units, {config.pooling} "
        f"pooling, reviews up to {config.max_len} tokens; {_encoder_words(config)}, then "
        "trained as a classifier" + _wide_words(config, wide),
        "",
        "**Rebuild it.** `.venv/bin/python bench/bench_recipes.py --recipes "
        f"{recipe} --seeds {seed} --source aclImdb_v1.tar.gz "
        + ("--sst trainDevTestTrees_PTB.tar.gz" if config.mix_sst_path
           else "--unsup aclImdb/train/unsup") + "`, then `.venv/bin/python scripts/ship_model.py RUN_DIR "
        f"--results bench/results/recipes.json --recipe {recipe} --seed {seed}"
        + (f" --vocab_rows {args.vocab_rows}" if args.vocab_rows else "") + "`" + (
            "; then `.venv/bin/python bench/bench_wide.py --run_dir model --source "
            "aclImdb_v1.tar.gz --workdir WORKDIR` and `.venv/bin/python scripts/ship_model.py "
            "WORKDIR/run_wide --results bench/results/wide.json --recipe 'model + wide'`."
            if wide and not config.wide else "."),
        "",
        f"**Accuracy** on the 25,000 test reviews: **{100 * row['test_acc']:.2f} %**.",
    ] + _scale_lines(getattr(args, "logit_scale", 1.0))
    if quartiles:
        lines += ["", "| length quartile (words) | accuracy |", "| --- | ---: |"]
        names = [f"up to {bounds[0]}", f"{bounds[0] + 1}-{bounds[1]}",
                 f"{bounds[1] + 1}-{bounds[2]}", f"over {bounds[2]}"] if bounds else \
            ["shortest", "second", "third", "longest"]
        lines += [f"| {name} | {100 * acc:.2f} % |" for name, acc in zip(names, quartiles)]
    if check:
        lines += ["", f"As shipped (float16 weights, {check['vocab_words']:,}-word vocabulary): "
                      f"{100 * check['shipped_accuracy']:.2f} % against "
                      f"{100 * check['run_accuracy']:.2f} % for the trained run on the same "
                      f"{check['reviews']:,} reviews."]
    lines += _sentences_lines(sentences or {}, system) + _behaviour_lines(behaviour or {}, system)
    lines += ["", "**Limits.** English movie reviews of the IMDB kind first; other domains "
              "(products, tweets, news) score lower and other languages are not read. Sarcasm, "
              "mixed reviews, negated praise or blame (\"not bad\"), contrasts in time (\"used "
              "to love it, but now\") and other people's opinions are often wrong (the "
              "Behaviour table). The neutral band is a reading of p (SST's neutral phrases "
              "were learned as p = 0.5), not a third class. Words outside the vocabulary are "
              "read as unknown.", ""]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--results", type=Path, default=ROOT / "bench/results/recipes.json")
    parser.add_argument("--recipe", default="best")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--vocab_rows", type=int, default=0)
    parser.add_argument("--check", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "model")
    parser.add_argument("--logit_scale", type=float, default=1.0,
                        help="multiply the logits by this (bench_sentences.py --scales chooses "
                             "it on SST dev): the verdict's sharpness; labels stay the same")
    parser.add_argument("--bench_system", default="",
                        help="this model's name in those results (default: RUN_DIR's name; "
                             "model after a first shipping)")
    parser.add_argument("--sentences", type=Path, default=None,
                        help="bench_sentences.py's results with this run among its systems")
    parser.add_argument("--behaviour", type=Path, default=None,
                        help="bench_behaviour.py's results with this run among its systems")
    args = parser.parse_args()
    results = json.loads(args.results.read_text())
    row = next(r for r in results["rows"] if r.get("recipe", r.get("model")) == args.recipe
               and r.get("seed", args.seed) == args.seed and r.get("pretrain_minutes") is None)
    row = {**row, "quartile_word_bounds": results.get("quartile_word_bounds", [])}
    building = args.out.with_name(f".{args.out.name}.building")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    _shrink(args.run_dir, building, args.vocab_rows, args.logit_scale)
    trained = load_config(["--config_path", str(args.run_dir / "config.yaml")])
    config = _config(trained, building)
    check = _check(args.run_dir, building, args.check, config.vocab_size) if args.check else None
    recipe, seed = _trained_as(args)
    wide = "wide.table" in load_params(building / "lstm-best.ckpt")
    evaluation = {"accuracy": row["test_acc"], "reviews": 25000,
                  "accuracy_by_length_quartile": row.get("test_acc_by_length_quartile"),
                  "quartile_word_bounds": row["quartile_word_bounds"], "recipe": recipe,
                  "seed": seed, "wide": wide, "logit_scale": args.logit_scale,
                  "shipped_check": check}
    (building / "eval.json").write_text(json.dumps(evaluation, indent=2) + "\n")
    benches = [json.loads(path.read_text()) if path else None
               for path in (args.sentences, args.behaviour)]
    (building / "MODEL_CARD.md").write_text(_card(trained, row, check, args, wide, (recipe, seed),
                                                  *benches, system=args.bench_system or
                                                  args.run_dir.name))
    args.out.mkdir(parents=True, exist_ok=True)
    for built in building.iterdir():  # file by file: model/encoder/ and the like stay
        built.replace(args.out / built.name)
    building.rmdir()
    size = sum(p.stat().st_size for p in args.out.iterdir() if p.is_file()) / 1e6
    print(f"shipped {args.run_dir} into {args.out} ({size:.1f} MB)" +
          (f"; accuracy {check}" if check else ""))


if __name__ == "__main__":
    main()
