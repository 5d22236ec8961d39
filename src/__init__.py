"""lstm-sentiment: the pipeline steps, one module each."""
import os

# MindSpore prints its C++ warnings to stderr; keep stderr for our one-line errors.
os.environ.setdefault("GLOG_v", "3")
