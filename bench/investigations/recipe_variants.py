"""Variants of the default recipe, kept only as negative results: measured, not chosen.

Each was measured on the full aclImdb beside the default, and lost.

Usage: .venv/bin/python bench/investigations/recipe_variants.py --source PATH
           [--recipes default_adversarial,default_encoder_lr,default_memory_returned]
           [--seeds 1] [--workdir DIR] [--result_name recipe_variants] [-- --KEY VALUE ...]

bench/bench_recipes.py's harness over the variants below (every option of it applies; see its
--help): the default (default_config.yaml, from the shipped encoder, with the linear part) with
one setting changed. Writes bench/investigations/results/recipe_variants.json; the default's
own rows, to compare with, are in bench/results/recipes.json (bench/README.md puts them side
by side).
- default_adversarial: --adversarial 0.02, adversarial training on the embeddings (Miyato et
  al. 2017): lower validation and test than the default on the same seed, at 2.6 times the
  step time;
- default_encoder_lr: --encoder_lr_scale 0.4, ULMFiT's discriminative rates: lower on both;
- default_memory_returned: --keep_freed_memory false, glibc's own policy (the default before
  keep_freed_memory): slower steps, less memory (investigations/bench_step_shapes.py).
"""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))  # the checkout: src and bench

from bench import bench_recipes  # noqa: E402

SHIPPED = {"pretrain": None, "encoder": "shipped"}
VARIANTS = {
    # the default with adversarial training on the embeddings (Miyato et al. 2017)
    "default_adversarial": {**SHIPPED, "train": ["--adversarial", "0.02"]},
    # ULMFiT's discriminative rates: the pretrained embedding and LSTM at 0.4 x the rate
    "default_encoder_lr": {**SHIPPED, "train": ["--encoder_lr_scale", "0.4"]},
    # the default with glibc's own policy: freed memory handed back (before keep_freed_memory)
    "default_memory_returned": {**SHIPPED, "train": ["--keep_freed_memory", "false"]},
}


def main(argv=None):
    bench_recipes.main(argv, table=VARIANTS, folder=HERE / "results", script=__file__,
                       result_name="recipe_variants", recipes=",".join(VARIANTS), seeds="1",
                       description=__doc__.splitlines()[0])


if __name__ == "__main__":
    main()
