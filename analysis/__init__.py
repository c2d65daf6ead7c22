"""Scoring: responses table -> weights -> index table with SE, CI and rank. Pure pandas/scipy, no Flask."""
