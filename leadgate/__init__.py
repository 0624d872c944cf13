"""leadgate core: configuration, the event store, Redis, the CLI and the sandbox CRM.

``gateway`` (HTTP), ``adapters`` (source kinds) and ``workers`` (delivery) build on it.
"""
