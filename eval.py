"""Evaluate a checkpoint on the test set.

    python eval.py --run_dir RUN_DIR [--checkpoint_file FILE.ckpt] [--KEY VALUE ...]

The run's config.yaml (RUN_DIR, or the checkpoint's folder) is the base config, so the
checkpoint is read with the settings it was trained with; any --KEY VALUE applies on top,
and --config_path FILE replaces it.

Prints the accuracy, per-class precision / recall / F1 and the confusion matrix, and writes
eval.json, eval.txt and confusion.png beside the checkpoint.
"""
import sys

from src.cloud.modelarts import modelarts_synced
from src.core.cli import run_main
from src.core.run_folder import run_config_first


@modelarts_synced
def main(config, log=print):
    """device -> checkpoint -> the test MindRecord -> accuracy and reports (src/training/evaluate.py)."""
    from src.training.evaluate import evaluate
    return evaluate(config, log=log)


if __name__ == "__main__":
    run_main(main, run_config_first(sys.argv[1:]))
