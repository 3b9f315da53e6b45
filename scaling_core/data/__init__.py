"""Dataset loaders: embedded corpora, shared real datasets and checksum-verified downloads."""
