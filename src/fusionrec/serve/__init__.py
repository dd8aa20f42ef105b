"""Serving: Paddle-free towers over a schema's features."""
