"""Helpers the tests share (not fixtures: those are in ``conftest.py``)."""
