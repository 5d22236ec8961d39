"""The margin's shares carried from the LSTM states back to the tokens (LRP for LSTMs).

src/inference/explanations.py splits the margin between two labels exactly over the last LSTM layer's
states (every position, every channel). The states at a position hold what the LSTM read
around it, not only its token, so this module carries each share back through the layers to
the tokens that produced it (Arras et al. 2017, "Explaining recurrent neural network
predictions in sentiment analysis"), in numpy, from the pass that gave the prediction.

The gates are not an output of that pass; they are recomputed from it: at step t a
direction's gate pre-activations are W x_t + U h_{t-1} + b, with x_t (the layer's input) and
h_{t-1} (its own output one step earlier) both known, so every step at once in one product;
only the cell states c_t = f_t c_{t-1} + i_t g_t take a loop. `check` is how far
o_t tanh(c_t) lands from the states the pass gave: the recomputation cannot drift from the
network unnoticed (tests/test_explain.py checks it on random weights, both backends).

Relevance runs from each direction's last step back: h_t = o_t tanh(c_t) hands its share
to c_t (the gate o_t acts as a weight); c_t's share splits between f_t c_{t-1} (to the
previous step's cell) and i_t g_t by their parts of c_t; the latter goes to g_t's
pre-activation z = W_g x_t + U_g h_{t-1} + b_g, whose part U_g h_{t-1} / z goes to the
previous step's output and W_g x_t / z to the layer's input at t (the layer below, or the
token's embedding); the rest (the bias's part and the stabiliser's) is no token's. Denominators
d are stabilised as d + EPS sign(d). Nothing is dropped: the token scores plus that rest are
the relevance put in (to float tolerance; the work is in float64). Handing the rest to the
token at t instead (as the bias of its own step) scores about as well on the shipped model,
but on a small model it credits the first word with the state the bias builds before any
word is read.

The step back through the recurrence (to c_{t-1} and h_{t-1}) is a linear map whose gain is
not bounded by 1: the shares f_t c_{t-1} / c_t and U_g h_{t-1} / z are ratios, and a ratio
can be larger than the derivative the LSTM's own dynamics contract by. In a long run of the
same words the LSTM sits at a fixed point where that map's gain is a little above 1 (1.03
for "great" repeated, on the shipped model), so relevance carried back compounds, cancelled
by the biases' part: up to 1e23 after 1,000 words, past float32's range (NaN) by 2,500,
1e154 in float64 at 3,000 ("good movie" repeated). So each step back is one more
stabiliser (`_bounded`): what a step hands to the steps before it, in absolute value, is at
most all the relevance its direction's states hold, scaled down to it if more (in effect
a larger stabiliser in those shares' denominators); the excess goes to the rest, as the
part EPS takes from a weak denominator does. The scores stay finite at any length and
still sum, with the rest, to the relevance put in. On the shipped model the bound binds on
151 of the bundled sample's 1,500 reviews (a step of theirs hands back at most 1.97 times
what it holds), and there it moves their explanations slightly towards occlusion's
(correlation 0.480 against 0.473; deleting their 5 top tokens drops p by 0.163 against
0.156). Two of the 50 reviews of tests/test_explain.py's faithfulness check reach it, at 2
and 3 of their steps; the check's agreement with occlusion stays 0.777.

Weights as SentimentNet.readout gives them: "embedding" [vocab, E] and "lstm", per layer
(weight_ih [D, 4H, in], weight_hh [D, 4H, H], bias [D, 4H]) of its D directions (forward,
then backward), gates in MindSpore's order (input, forget, cell, output).
"""
import numpy as np

__all__ = ["token_relevance", "EPS"]

EPS = 1e-2


def _stable(values):
    return values + np.copysign(np.asarray(EPS, values.dtype), values)


def _sigmoid(values):
    return 1.0 / (1.0 + np.exp(-values))


def _directions(values, count):
    """[L, D * H] (directions side by side) -> [D, L, H], each in its reading order."""
    parts = values.reshape(len(values), count, -1).transpose(1, 0, 2)
    return np.stack([parts[0]] + ([parts[1][::-1]] if count > 1 else []))


def _bounded(carry, back, held):
    """Scale one step's relevance handed back, carry (to c_{t-1}) and back (to h_{t-1}), both
    [D, H], in place, so that per direction its absolute sum is at most held [D]; returns the
    part of carry taken away (back's is no longer part of what the step hands back)."""
    handed = np.abs(carry).sum(axis=1) + np.abs(back).sum(axis=1)
    if not (handed > held).any():
        return 0.0
    scale = np.where(handed > held, held / np.maximum(handed, np.finfo(handed.dtype).tiny),
                     1.0)[:, None]
    taken = float(((1 - scale) * carry).sum())
    carry *= scale
    back *= scale
    return taken


def _layer(directions, inputs, outputs, relevance, checked):
    """One layer of one review: inputs [L, in], outputs [L, D * H] (its states) and their
    relevance [L, D * H] -> (relevance of the inputs [L, in], the rest: no input's, check
    or 0.0 if not `checked`)."""
    weight_ih, weight_hh, bias = directions
    count, steps = len(weight_ih), len(inputs)
    hidden = outputs.shape[1] // count
    gates = (4 if checked else 3) * hidden  # the output gate only serves the check
    x = np.stack([inputs, inputs[::-1]][:count])                       # [D, L, in]
    h = _directions(outputs, count)                                    # [D, L, H]
    before = np.concatenate([np.zeros_like(h[:, :1]), h[:, :-1]], axis=1)  # h_{t-1}
    z = (x @ weight_ih[:, :gates].transpose(0, 2, 1)
         + before @ weight_hh[:, :gates].transpose(0, 2, 1) + bias[:, None, :gates])
    # time-major [L, D, H] from here: each step's slice is one contiguous block
    f = np.ascontiguousarray(_sigmoid(z[..., hidden:2 * hidden]).transpose(1, 0, 2))
    cells = np.ascontiguousarray((_sigmoid(z[..., :hidden]) *
                                  np.tanh(z[..., 2 * hidden:3 * hidden])).transpose(1, 0, 2))
    for t in range(1, steps):  # c_t = f_t c_{t-1} + i_t g_t
        cells[t] += f[t] * cells[t - 1]
    check = 0.0
    if checked:
        output = _sigmoid(z[..., 3 * hidden:]) * np.tanh(cells.transpose(1, 0, 2))
        check = float(np.abs(output - h).max())
    to_earlier = f                                      # c_t's part that c_{t-1} gets
    to_earlier[1:] *= cells[:-1]
    to_earlier[0] = 0.0
    to_earlier /= _stable(cells)
    to_z = (1 - to_earlier) / _stable(z[..., 2 * hidden:3 * hidden].transpose(1, 0, 2))
    before = np.ascontiguousarray(before.transpose(1, 0, 2))
    share = np.ascontiguousarray(_directions(relevance, count).transpose(1, 0, 2))
    given = float(share.sum())
    held = np.abs(share).sum(axis=(0, 2))               # [D]: the bound of each step back
    recurrent = weight_hh[:, 2 * hidden:3 * hidden]       # U_g [D, H, H]: rows are its units
    per_cell, carry = np.empty_like(share), np.zeros_like(share[0])
    absorbed = 0.0                                       # of the carries, by _bounded
    for t in range(steps - 1, -1, -1):  # share[t] is complete once step t+1 is done
        cell = per_cell[t]
        np.add(share[t], carry, out=cell)
        np.multiply(cell, to_earlier[t], out=carry)
        if t:
            back = before[t] * ((cell * to_z[t])[:, None] @ recurrent)[:, 0]
            absorbed += _bounded(carry, back, held)
            share[t - 1] += back
    into_z = per_cell * (1 - to_earlier)                # relevance of each step's z
    back = float(share.sum()) - given                   # of which to h_{t-1}: added to share
    lower = x * ((per_cell * to_z).transpose(1, 0, 2) @ weight_ih[:, 2 * hidden:3 * hidden])
    # the biases', the stabilisers' and what _bounded took from the steps back
    rest = float(into_z.sum()) - back - float(lower.sum()) + absorbed
    if count > 1:  # the backward direction's values back to positions
        return lower[0] + lower[1][::-1], rest, check
    return lower[0], rest, check


def token_relevance(weights, ids, states, relevance, checked=False):
    """(scores [L], rest, check): the relevance [L, C] of one review's last-layer states
    carried back to its tokens, and the part that is no token's (the biases'); ids [L];
    states [L, layers * C], every layer's outputs side by side (SentimentNet.logits_and_states);
    check as in the module text (0.0 unless `checked`: it costs a fourth gate)."""
    dtype = np.float64  # the shares partly cancel (the tokens' and the biases'); no slower here
    layers = [tuple(np.asarray(w, dtype) for w in layer) for layer in weights["lstm"]]
    width = states.shape[1] // len(layers)
    states, share = np.asarray(states, dtype), np.asarray(relevance, dtype)
    rest, check = 0.0, 0.0
    for n in range(len(layers) - 1, -1, -1):
        inputs = np.asarray(weights["embedding"][ids], dtype) if n == 0 else \
            states[:, (n - 1) * width:n * width]
        share, kept, worst = _layer(layers[n], inputs, states[:, n * width:(n + 1) * width],
                                    share, checked)
        rest += kept
        check = max(check, worst)
    return share.sum(axis=1), rest, check
