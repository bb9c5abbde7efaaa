"""Storage: the register file format, keys, locking and atomic writes. Nothing else touches disk."""
