"""Synthetic micro-expression clips built on a real face photograph."""
