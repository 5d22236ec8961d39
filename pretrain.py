"""Pretrain the encoder (embedding + one bidirectional LSTM layer) as a language model on the
training reviews and the unlabelled ones; then train the classifier from it:

    python pretrain.py --aclimdb_path aclImdb --unlabelled_path aclImdb/train/unsup \
        --pretrain_path pretrain [--pretrain_minutes 60]
    python train.py --aclimdb_path aclImdb --pretrained_encoder pretrain/encoder.ckpt ...

The test reviews are never read. --resume true continues from the newest lm-EPOCH_STEP.ckpt.
"""
from src.cli import run_main


def main(config, log=print):
    """The pretraining flow. Returns the path of encoder.ckpt."""
    import dataclasses
    from src import data, embeddings, pretrain
    from src.device import init_device
    from src.distribute import Rank
    from src.run_folder import open_run
    from src.tracking import RunLog

    log = RunLog(log)
    # pretrained_encoder is train.py's: a language model starts from pretrain_start or afresh
    config = dataclasses.replace(config, pretrained_encoder="")
    init_device(config)                                         # CPU/GPU/Ascend, seeds
    prepared = data.prepare(config, log)                        # the classifier's vocabulary
    stream, heldout = pretrain.corpus(config, prepared, log)    # train + unlabelled token ids
    windows = pretrain.Windows(stream, config.pretrain_window, config.pretrain_batch_size,
                               config.seed)
    table = embeddings.build_embedding(config, prepared, log)   # the initial word vectors
    model, sampler = pretrain.build_language_model(config, table, len(prepared.vocab))
    heldout = pretrain.HeldOut(heldout, windows, sampler)       # loss on reviews never seen
    with open_run(config, prepared.vocab_file, Rank(), log, key="pretrain_path",
                  checkpoints=(f"{pretrain.LM_PREFIX}-*.ckpt", "encoder*.ckpt")) as run:
        path = pretrain.pretrain(config, model, sampler, windows, prepared.vocab, run,
                                 heldout)
    log.close()
    return path


if __name__ == "__main__":
    run_main(main)
