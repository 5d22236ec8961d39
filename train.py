"""Train the LSTM sentiment classifier.

    python train.py [--config_path FILE] [--KEY VALUE ...]      (--help lists every key)

The run folder (--run_dir) receives config.yaml, vocab.json, metrics.jsonl, run.log,
curves.png, lstm-EPOCH_STEP.ckpt checkpoints and lstm-best.ckpt (best validation accuracy).
"""
import sys
from dataclasses import replace

from src.cloud.modelarts import modelarts_synced
from src.core.cli import run_main
from src.core.run_folder import resume_config_first


@modelarts_synced(new_run=True)
def main(config, log=print):
    """The training flow, step by step. Returns the run folder."""
    # MindSpore is imported only now, so a bad config has already failed in a fraction of a second
    from src.core import distribute
    from src.core.device import init_allocator, init_device
    from src.core.run_folder import guard_run_folder, open_run
    from src.data import embeddings, mindrecord
    from src.model import network
    from src.training import loop, wide_fit
    from src.training.tracking import RunLog

    log = RunLog(log)                                   # console lines, later also run.log
    config = distribute.for_worker(config)              # DEVICE_ID of this worker
    loop.check_inputs(config)                           # missing files fail before preprocessing
    guard_run_folder(config)                            # never model/, nor a run by mistake
    init_device(config)                                 # CPU/GPU/Ascend, GRAPH_MODE, seeds
    init_allocator(config)                              # large batches: freed buffers kept
    rank = distribute.init_distribute(config)           # rank 0 of 1 unless run_distribute

    prepared = mindrecord.prepare(config, log, build=rank.is_main)  # MindRecord + vocabulary
    table = embeddings.build_embedding(config, prepared, log, build=rank.is_main)
    config = replace(config, embed_size=table.shape[1])             # GloVe files set the width

    # the wide part's table is fitted now, while its work memory costs nothing at the peak
    fitted = wide_fit.fit_wide(config, prepared, log) if config.wide and rank.is_main else None

    net = network.build_network(config.model, table)               # SentimentNet
    steps_per_epoch = distribute.common_steps(
        lambda shards, shard: mindrecord.batches_per_epoch(config, prepared, shards, shard), rank)
    optimizer, rates = loop.build_optimizer(config, net, steps_per_epoch)
    step = loop.train_step(net, optimizer, config.adversarial, config.dynamic_shapes)

    with open_run(config, prepared.vocab_file, rank, log) as run:
        state = loop.restore(config, step, run, prepared.vocab)  # --encoder_checkpoint ...
        distribute.broadcast_weights(net, rank)     # every worker starts from rank 0's
        loop.fit(config, step, rates, prepared, run, state, rank, steps_per_epoch)
        if config.wide and rank.is_main:              # mixed in on the validation split
            wide_fit.attach_wide(config, prepared, run.dir, run.log, fitted)
    log.close()
    return run.dir


if __name__ == "__main__":
    run_main(main, resume_config_first(sys.argv[1:]))   # --resume: the run's own settings
