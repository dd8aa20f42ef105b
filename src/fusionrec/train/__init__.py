"""Training: the numpy engine's towers over a schema's features."""
