"""The pooled HTTP clients: every peer's client verifies TLS with the process's one SSL context."""

from __future__ import annotations

import ssl

import httpx

from workers.alerting import AlertClient
from workers.clients import verified_tls
from workers.connectgain import ConnectGainClient
from workers.facebook_graph import GraphClient


def test_the_shared_context_verifies_against_the_ca_bundle_httpx_would_load():
    context = verified_tls()
    assert context is verified_tls()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.cert_store_stats() == httpx.create_ssl_context().cert_store_stats()


def test_every_peers_client_uses_the_shared_context():
    """One parsed CA bundle per process, not one per client (about 0.8 MiB each in a worker)."""
    clients = [kind(timeout=1) for kind in (ConnectGainClient, GraphClient, AlertClient)]
    try:
        for client in clients:
            pool = client.http._transport._pool  # type: ignore[attr-defined]  # httpx and httpcore keep it private
            assert pool._ssl_context is verified_tls()
    finally:
        for client in clients:
            client.close()
