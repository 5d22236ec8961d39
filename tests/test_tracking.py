"""Aim experiment tracking (read back through Aim's own API), run.log, and the epoch bar."""
import dataclasses
import json
import sys

import pytest

from conftest import run_on_terminal, run_script, tiny_args
from src.core.config import load_config
from src.core.errors import UserError
from src.training.tracking import AIM_RUN_FILE, AimTracker, RunLog


def aim_run(repo, run_hash):
    """The run as Aim's SDK sees it (what `aim up` shows)."""
    from aim import Repo
    run = Repo(str(repo)).get_run(run_hash)
    assert run is not None, f"run {run_hash} not found in the Aim repo {repo}"
    return run


def tracked(run):
    """{(name, subset): {step: value}} of every metric the run tracked."""
    series = {}
    for metric in run.metrics():
        steps, (values,) = metric.data.view("val").items_list()
        series[metric.name, metric.context.to_dict().get("subset")] = dict(zip(steps, values))
    return series


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.slow
def test_train_and_eval_track_to_aim_and_log_the_console(session_dir, prepared, tmp_path,
                                                         capfd):
    repo, run_dir = tmp_path / "aim", tmp_path / "run"
    args = tiny_args(session_dir) + ["--run_dir", run_dir, "--aim_repo", repo,
                                     "--num_epochs", "2"]
    result = run_script("train.py", *args, capfd=capfd)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (run_dir / "run.log").read_text().splitlines() == result.stdout.splitlines()

    run_hash = (run_dir / AIM_RUN_FILE).read_text().strip()
    run = aim_run(repo, run_hash)
    config = load_config([str(a) for a in args])
    assert run["hparams"]["learning_rate"] == config.learning_rate
    assert run["hparams"]["num_hiddens"] == 16 and run["hparams"]["aim_repo"] == str(repo)
    assert run.experiment == "lstm-sentiment"
    series = tracked(run)
    records = read_jsonl(run_dir / "metrics.jsonl")
    steps = [r for r in records if "loss" in r]
    epochs = [r for r in records if "valid_acc" in r]
    assert series["loss", "train"] == pytest.approx({r["step"]: r["loss"] for r in steps})
    assert series["lr", "train"] == pytest.approx({r["step"]: r["lr"] for r in steps})
    assert len(series["samples_per_s", "train"]) == len(steps)
    assert sorted(series["accuracy", "valid"].values()) == \
        pytest.approx(sorted(r["valid_acc"] for r in epochs))
    assert len(series["loss", "valid"]) == len(epochs) == 2

    result = run_script("eval.py", *args, capfd=capfd)
    assert result.returncode == 0, result.stderr[-2000:]
    accuracy = json.loads((run_dir / "eval.json").read_text())["accuracy"]
    run = aim_run(repo, run_hash)
    assert run["test"]["accuracy"] == pytest.approx(accuracy)
    assert set(run["test"]["per_class"]) == {"negative", "positive"}
    assert list(tracked(run)["accuracy", "test"].values()) == pytest.approx([accuracy])


def replay(tracker, records):
    for record in records:
        tracker.record(record)
    tracker.close()


def test_resume_continues_the_same_aim_run(tiny_config, trained_run, tmp_path):
    records = read_jsonl(trained_run / "metrics.jsonl")
    config = dataclasses.replace(tiny_config, aim_repo=str(tmp_path / "aim"))
    replay(AimTracker(config, tmp_path, log=lambda *_: None), records[:5])
    first = (tmp_path / AIM_RUN_FILE).read_text().strip()
    resumed = dataclasses.replace(config, resume=True)
    replay(AimTracker(resumed, tmp_path, log=lambda *_: None), records[5:])
    assert (tmp_path / AIM_RUN_FILE).read_text().strip() == first
    series = tracked(aim_run(tmp_path / "aim", first))
    steps = [r for r in records if "loss" in r]
    assert series["loss", "train"] == pytest.approx({r["step"]: r["loss"] for r in steps})


def test_aim_repo_that_cannot_be_created_is_a_user_error(tiny_config, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    config = dataclasses.replace(tiny_config, aim_repo=str(blocker / "aim"))
    with pytest.raises(UserError, match="cannot open Aim repo .*--aim_repo"):
        AimTracker(config, tmp_path, log=lambda *_: None)
    assert not (tmp_path / AIM_RUN_FILE).exists()


def test_missing_aim_package_is_a_user_error(tiny_config, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "aim", None)
    config = dataclasses.replace(tiny_config, aim_repo=str(tmp_path / "aim"))
    with pytest.raises(UserError, match="requirements-track.txt"):
        AimTracker(config, tmp_path, log=lambda *_: None)


def test_run_log_writes_lines_from_before_and_after_attach(tmp_path):
    shown = []
    log = RunLog(shown.append)
    log("preprocessing")
    log.attach(tmp_path / "run.log")
    log("epoch 1")
    log.close()
    assert (tmp_path / "run.log").read_text() == "preprocessing\nepoch 1\n"
    resumed = RunLog(shown.append)
    resumed.attach(tmp_path / "run.log", append=True)
    resumed("resuming")
    resumed.close()
    assert (tmp_path / "run.log").read_text().splitlines() == ["preprocessing", "epoch 1",
                                                                "resuming"]
    assert shown == ["preprocessing", "epoch 1", "resuming"]


def test_run_log_in_unwritable_place_is_a_user_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match="cannot write"):
        RunLog(lambda _: None).attach(tmp_path / "file" / "run.log")


@pytest.mark.slow
def test_epoch_bar_on_a_terminal_plain_lines_in_run_log(session_dir, prepared, tmp_path):
    run_dir = tmp_path / "run"
    code, text = run_on_terminal("train.py", *tiny_args(session_dir), "--run_dir", run_dir)
    assert code == 0, text[-2000:]
    assert "epoch 1:" in text and "step/s" in text
    log = (run_dir / "run.log").read_text()
    assert "step/s" not in log and "\r" not in log
    assert log.splitlines()[-1].startswith("training done")
