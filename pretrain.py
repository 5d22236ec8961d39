"""Pretrain the encoder (embedding + one bidirectional LSTM layer) as a language model on the
training reviews and the unlabelled ones; then train the classifier from it:

    python pretrain.py --aclimdb_path aclImdb --unlabelled_path aclImdb/train/unsup \
        --pretrain_dir pretrain [--pretrain_minutes 60]
    python train.py --aclimdb_path aclImdb --encoder_checkpoint pretrain/encoder.ckpt ...

The test reviews are never read. --resume true continues from the newest lm-EPOCH_STEP.ckpt.
"""
from src.cloud.modelarts import modelarts_synced
from src.core.cli import run_main


@modelarts_synced(new_run=True)
def main(config, log=print):
    """The pretraining flow. Returns the path of encoder.ckpt."""
    import dataclasses
    from src.data import embeddings, mindrecord
    from src.training import pretraining
    from src.core.device import init_device
    from src.core.distribute import Rank
    from src.core.run_folder import guard_run_folder, open_run
    from src.training.tracking import RunLog

    log = RunLog(log)
    # encoder_checkpoint is train.py's: a language model starts from pretrain_init_encoder or afresh
    config = dataclasses.replace(config, encoder_checkpoint="")
    written = (f"{pretraining.LM_PREFIX}-*.ckpt", "encoder*.ckpt")  # by a pretraining run
    guard_run_folder(config, "pretrain_dir", pretraining.LM_PREFIX, written)
    init_device(config)                                         # CPU/GPU/Ascend, seeds
    prepared = mindrecord.prepare(config, log)                        # the classifier's vocabulary
    stream, heldout = pretraining.corpus(config, prepared, log)    # train + unlabelled token ids
    windows = pretraining.Windows(stream, config.pretrain_window, config.pretrain_batch_size,
                               config.seed)
    table = embeddings.build_embedding(config, prepared, log)   # the initial word vectors
    model, sampler = pretraining.build_language_model(config, table, len(prepared.vocab))
    heldout = pretraining.HeldOut(heldout, windows, sampler)       # loss on reviews never seen
    with open_run(config, prepared.vocab_file, Rank(), log, key="pretrain_dir",
                  checkpoints=written) as run:
        path = pretraining.pretrain(config, model, sampler, windows, prepared.vocab, run,
                                 heldout)
    log.close()
    return path


if __name__ == "__main__":
    run_main(main)
