"""Export a checkpoint to MINDIR/AIR: python export.py --checkpoint_path FILE.ckpt [...]"""
from src.config import run_main
from src.export import export_model

if __name__ == "__main__":
    run_main(export_model)
