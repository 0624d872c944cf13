"""Everything that happens after the gateway's 2xx: dispatch, delivery, retries, dead letters, replay."""
