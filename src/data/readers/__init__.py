"""One reader per source of labelled text: aclImdb, SST trees, CSV/TSV tables (Kaggle's
phrases among them); labelled_text holds the record they all return."""
