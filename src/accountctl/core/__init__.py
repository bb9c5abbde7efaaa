"""Plain functions over the register's data: the rules of the product, no I/O of their own."""
