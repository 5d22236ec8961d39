"""Train the LSTM sentiment classifier: python train.py [--config_path FILE] [--KEY VALUE ...]"""
from src.config import run_main

if __name__ == "__main__":
    run_main("src.train:train")
