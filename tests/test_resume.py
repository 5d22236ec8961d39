"""--resume: exactly where the run stopped at dropout 0, the same steps with new dropout masks
at the default dropout, validation and the early-stop count across a kill, and checkpoints of
every naming of the step count."""
import dataclasses
import json
import shutil
from pathlib import Path

import mindspore as ms
import numpy as np
from mindspore import nn

from src.core.config import Config, load_config
from src.model.checkpoint import latest_checkpoint, load_params
from train import main as train


def test_resume_continues_exactly_where_the_run_stopped(uninterrupted_run, tmp_path):
    """The session's uninterrupted run (2 epochs of 28 steps, dropout 0: dropout masks are not
    part of a checkpoint, so exact equality needs dropout 0), cut after step 10 and resumed,
    ends with its weights."""
    config = load_config(["--config_path", str(uninterrupted_run / "config.yaml")])
    cut = dataclasses.replace(config, run_dir=str(tmp_path / "cut"), resume=True)
    shutil.copytree(uninterrupted_run, cut.run_dir)
    (Path(cut.run_dir) / "lstm-best.ckpt").unlink()
    for later in Path(cut.run_dir).glob("lstm-*_*.ckpt"):   # keep lstm-1_10: mid-epoch 1
        if later.name != "lstm-1_10.ckpt":
            later.unlink()
    assert latest_checkpoint(cut.run_dir, "lstm").name == "lstm-1_10.ckpt"
    kept = Path(cut.run_dir) / "lstm-1_10.ckpt"
    saved = kept.read_bytes()
    train(cut, log=lambda *_: None)
    full = load_params(uninterrupted_run / "lstm-2_28.ckpt")
    resumed = load_params(Path(cut.run_dir) / "lstm-2_28.ckpt")
    for name in ("decoder.weight", "embedding.embedding_table", "global_step"):
        np.testing.assert_allclose(resumed[name].asnumpy(), full[name].asnumpy(), atol=1e-6)
    # With dropout 0 a run that started over would end the same: the weights must come from
    # lstm-1_10, so a checkpoint with other weights must give another end.
    for later in Path(cut.run_dir).glob("lstm-*_*.ckpt"):
        later.unlink()
    kept.write_bytes(saved)
    params = load_params(kept)
    params["decoder.weight"].set_data(ms.Tensor(np.zeros(params["decoder.weight"].shape,
                                                         np.float32)))
    ms.save_checkpoint([{"name": n, "data": v} for n, v in params.items()
                        if hasattr(v, "asnumpy")], str(kept),
                       append_dict={"vocab_digest": params["vocab_digest"]})
    train(cut, log=lambda *_: None)
    altered = load_params(Path(cut.run_dir) / "lstm-2_28.ckpt")
    assert not np.allclose(altered["decoder.weight"].asnumpy(), full["decoder.weight"].asnumpy(),
                           atol=1e-3)


def _metrics(run_dir):
    return [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").open()]


def test_resume_at_the_default_dropout_replays_the_steps_with_new_dropout_masks(trained_run,
                                                                                tiny_config,
                                                                                tmp_path):
    """What the README says --resume reproduces at the default dropout: the steps after the
    checkpoint, from its weights, with the same batches and learning rates, and no metric
    doubled; only the dropout masks after it are new (MindSpore's CPU dropout keeps its random
    state in the kernel, outside any checkpoint), so the losses move a little. The session's
    tiny run (28 steps at the default dropout) is the uninterrupted one; its copy resumes from
    lstm-1_20."""
    assert tiny_config.dropout == Config().dropout > 0
    cut = tmp_path / "cut"
    shutil.copytree(trained_run, cut)
    for later in cut.glob("lstm-*.ckpt"):   # as if killed after step 20
        if later.name != "lstm-1_20.ckpt":
            later.unlink()
    train(dataclasses.replace(tiny_config, run_dir=str(cut), resume=True), log=lambda *_: None)
    full = [(r["step"], r["loss"]) for r in _metrics(trained_run) if "loss" in r]
    resumed = [(r["step"], r["loss"]) for r in _metrics(cut) if "loss" in r]
    assert [step for step, _ in resumed] == [step for step, _ in full] == list(range(1, 29))
    assert resumed[:20] == full[:20]
    after, reference = [loss for _, loss in resumed[20:]], [loss for _, loss in full[20:]]
    assert after != reference, "dropout masks are restored now: say so in the README"
    assert abs(np.mean(after) - np.mean(reference)) < 0.02
    ends = load_params(cut / "lstm-1_28.ckpt"), load_params(trained_run / "lstm-1_28.ckpt")
    assert ends[0]["global_step"].asnumpy().item() == ends[1]["global_step"].asnumpy().item() == 28


def test_the_epoch_end_checkpoint_is_written_after_validation_with_the_early_stop_count(
        tiny_config, tmp_path):
    """A run killed during validation resumes from before the epoch's end, so the epoch is
    validated again and can still become lstm-best; the early-stop count survives a resume."""
    from src.training.callbacks import TrainState
    # a learning rate too small to change a prediction: validation never improves after epoch 1
    still = dataclasses.replace(tiny_config, run_dir=str(tmp_path / "still"), num_epochs=3,
                                batch_size=64, lr_schedule="fixed", learning_rate=1e-9,
                                early_stop_patience=2, keep_checkpoint_max=10)
    lines = []
    train(still, log=lines.append)
    assert [line for line in lines if "early stop" in line]
    run = tmp_path / "still"
    assert TrainState.from_checkpoint(load_params(run / "lstm-2_14.ckpt")).bad_epochs == 1
    assert (run / "lstm-1_14.ckpt").stat().st_mtime_ns >= \
        (run / "lstm-best.ckpt").stat().st_mtime_ns
    # killed in epoch 3: the resumed run's epoch 3 is the second without a better validation
    for later in run.glob("lstm-3_*.ckpt"):
        later.unlink()
    lines = []
    train(dataclasses.replace(still, resume=True), log=lines.append)
    assert [line for line in lines if "early stop" in line], lines[-5:]
    assert TrainState.from_checkpoint(load_params(run / "lstm-3_14.ckpt")).bad_epochs == 2


def test_the_steps_done_are_saved_by_that_name_and_older_checkpoints_still_resume(tmp_path):
    """A checkpoint names the training steps run so far steps_done (the optimizer's own
    counter keeps "global_step"); checkpoints written when they were called train_step give
    the same state."""
    from src.model.checkpoint import save_atomic
    from src.training.callbacks import TrainState
    cell = nn.Dense(2, 2)
    save_atomic(cell, tmp_path / "new.ckpt", TrainState(2, 3, 57, 1).as_dict())
    saved = load_params(tmp_path / "new.ckpt")
    assert int(saved["steps_done"].asnumpy()) == 57 and "train_step" not in saved
    save_atomic(cell, tmp_path / "old.ckpt",
                {"epoch": 2, "step_in_epoch": 3, "train_step": 57, "bad_epochs": 1})
    for name in ("new.ckpt", "old.ckpt"):
        state = TrainState.from_checkpoint(load_params(tmp_path / name))
        assert (state.epoch, state.step_in_epoch, state.steps_done, state.bad_epochs) == \
            (2, 3, 57, 1), name
