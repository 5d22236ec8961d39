"""Evaluate a checkpoint on the test set: python eval.py --checkpoint_path FILE.ckpt [...]"""
from src.config import run_main

if __name__ == "__main__":
    run_main("src.eval:evaluate")
