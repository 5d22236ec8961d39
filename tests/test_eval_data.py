"""eval.py on data other than the run's own: a user's CSV is scored whole (every row, nothing
split off), and every evaluation's files are named after its data, so the run's own eval.json
is never replaced."""
import csv
import json
import shutil

from conftest import SAMPLE, run_script
from src.data.readers.aclimdb import read_aclimdb


def _copy_run(trained_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run, ignore=shutil.ignore_patterns("lstm-[0-9]*", "*.png"))
    return run


def test_a_users_csv_is_scored_row_for_row_beside_the_runs_own_figures(
        trained_run, tiny_eval, tmp_path, capfd):
    run = _copy_run(trained_run, tmp_path)
    own = (run / "eval.json").read_text()
    reviews = read_aclimdb(SAMPLE)["test"][::5]                    # 100 real reviews
    table = tmp_path / "holdout.csv"
    with open(table, "w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["text", "label"])
        writer.writerows((r.text, ("negative", "positive")[r.label]) for r in reviews)
    done = run_script("eval.py", "--run_dir", run, "--data_path", table,
                      "--preprocess_path", tmp_path / "preprocess", capfd=capfd)
    assert done.returncode == 0, done.stderr[-2000:]
    scored = json.loads((run / "eval-holdout.json").read_text())
    assert scored["reviews"] == 100
    assert sum(scored["confusion_matrix"][1]) == sum(r.label for r in reviews)
    assert (run / "eval-holdout.txt").exists()
    assert (run / "eval.json").read_text() == own


def test_other_reviews_of_the_same_kind_get_their_own_name(trained_run, tiny_eval, tmp_path, capfd):
    run = _copy_run(trained_run, tmp_path)
    own = (run / "eval.json").read_text()
    other = tmp_path / "fewer_reviews"
    for split in ("train", "test"):
        for label in ("neg", "pos"):
            (other / split / label).mkdir(parents=True)
            for path in sorted((SAMPLE / split / label).glob("*.txt"))[:20]:
                shutil.copy(path, other / split / label / path.name)
    done = run_script("eval.py", "--run_dir", run, "--aclimdb_path", other,
                      "--preprocess_path", tmp_path / "preprocess", capfd=capfd)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((run / "eval-fewer_reviews.json").read_text())["reviews"] == 40
    assert (run / "eval.json").read_text() == own


def test_the_shipped_models_card_figures_are_never_replaced_even_on_its_own_data():
    """model/config.yaml names the data the shipped model was scored on (aclImdb_v1.tar.gz):
    eval.py on that same data names its results after it, so model/eval.json, written with the
    card, stays."""
    from src.core.config import load_config
    from src.core.run_folder import SHIPPED, run_config_first
    from src.training.evaluate import own_data, results_name
    config = load_config(run_config_first(["--run_dir", str(SHIPPED)]))
    checkpoint = SHIPPED / "lstm-best.ckpt"
    assert own_data(config, checkpoint)
    assert results_name(config, checkpoint, own=True) == "eval-aclImdb_v1"
