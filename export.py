"""Export a checkpoint to MINDIR/AIR: python export.py --checkpoint_path FILE.ckpt [...]"""
from src.config import run_main

if __name__ == "__main__":
    run_main("src.export:export_model")
