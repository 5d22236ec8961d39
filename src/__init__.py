"""lstm-sentiment: core/ -> data/ -> model/ -> training/ and inference/, with cloud/ beside them.
Each package imports only from those before it in this line."""
import os

# MindSpore prints its C++ warnings to stderr; keep stderr for our one-line errors.
os.environ.setdefault("GLOG_v", "3")
