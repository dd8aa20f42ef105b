"""Evaluation: rating and ranking metrics and the protocols they are measured under."""
