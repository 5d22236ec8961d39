"""Length buckets: the lengths batches are padded to and how many reviews a batch of each holds,
in training (src/data/mindrecord.py), evaluation and serving (src/inference/predictor.py). Plain arithmetic, no
MindSpore.
"""

__all__ = ["EVAL_BATCH", "EVAL_TOKENS", "eval_batch_size", "padded_lengths", "bucket_length",
           "bucket_boundaries", "reviews_per_batch", "bucket_batch_sizes"]

# Passes that keep no gradient (validation, eval.py, the wide fit, serving) read at most this
# many reviews per batch, and at most EVAL_TOKENS padded tokens: on CPU the LSTM kernels' work
# memory grows with a batch's tokens (about 34 KB each), and nothing is gained by training's
# 64 (bench/bench_memory.py). Serving the shipped model in batches of 16 x 500 tokens held
# 0.93-1.0 GB on MindSpore, 8 x 500 0.81 GB (6 % slower).
EVAL_BATCH = 16
EVAL_TOKENS = 4000


def eval_batch_size(batch_size):
    """Reviews per batch of a pass without gradient: EVAL_BATCH, or the run's smaller one."""
    return min(batch_size, EVAL_BATCH)


def padded_lengths(width, max_len):
    """The lengths batches are padded to: multiples of width up to 10 widths, then doubling
    (few reviews are that long, and each length is one more compiled graph), then max_len."""
    if not width:
        return [max_len]
    lengths, length = [], width
    while length < max_len:
        lengths.append(length)
        length = length + width if length < 10 * width else length * 2
    return lengths + [max_len]


def bucket_length(tokens, width, max_len):
    """The padded length of a batch whose longest review has this many tokens."""
    return next(length for length in padded_lengths(width, max_len) if length >= tokens)


def bucket_boundaries(width, max_len):
    """The bucket boundaries of bucket_batch_by_length: one past each padded length."""
    return [length + 1 for length in padded_lengths(width, max_len)]


def reviews_per_batch(batch_size, width, max_len, tokens, batch_tokens=0):
    """Reviews in a batch whose longest has this many tokens: batch_size, fewer when the
    padded batch would hold more than batch_tokens tokens (0: batch_size x 10 widths), so a
    batch of long reviews holds no more tokens, nor LSTM work memory, than the cap."""
    if not width:
        return batch_size
    cap = batch_tokens or batch_size * 10 * width
    padded = bucket_length(min(tokens, max_len), width, max_len)
    return max(1, min(batch_size, cap // padded))


def bucket_batch_sizes(batch_size, width, max_len, batch_tokens=0):
    """reviews_per_batch of each padded length, as bucket_batch_by_length takes them."""
    sizes = [reviews_per_batch(batch_size, width, max_len, length, batch_tokens)
             for length in padded_lengths(width, max_len)]
    return sizes + sizes[-1:]  # bucket_batch_by_length wants one past the last boundary
