"""Fake third-party services for the tests, each a real HTTP server on 127.0.0.1."""

from tests.fakes.graph_api import FakeGraphAPI

__all__ = ["FakeGraphAPI"]
