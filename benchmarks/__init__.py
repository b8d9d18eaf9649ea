"""The benchmark of issue 7: ``make bench [SCALE=…]``; see README.md in this folder."""
