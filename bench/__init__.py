"""The leadgate benchmark: ``python -m bench.run`` (see ``bench/README.md``). Not a test."""
