"""Evaluate a checkpoint on the test set.

    python eval.py --ckpt_path RUN_DIR [--checkpoint_path FILE.ckpt] [--KEY VALUE ...]

Prints the accuracy, per-class precision / recall / F1 and the confusion matrix, and writes
eval.json, eval.txt and confusion.png beside the checkpoint.
"""
from src.cli import run_main


def main(config, log=print):
    """device -> checkpoint -> the test MindRecord -> accuracy and reports (src/eval.py)."""
    from src.eval import evaluate
    return evaluate(config, log=log)


if __name__ == "__main__":
    run_main(main)
