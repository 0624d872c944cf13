"""Fault-injection suite: real processes on loopback, injected failures, and proof that nothing acknowledged is lost."""
