"""The network: SentimentNet (network), its linear word-pair part (wide), the language model
that pretrains its encoder, checkpoints, and the same network as one ONNX graph."""
