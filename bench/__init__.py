"""The leadgate benchmark: ``python -m bench.run`` (see ``docs/benchmarks.md``). Not a test."""
