"""From raw text to batches: the tokenizer and vocabulary (text), the dataset readers
(readers/), train/valid/test splits (splits), the MindRecord cache and its batches
(mindrecord), length buckets, the unlabelled token corpus, and the embedding table."""
