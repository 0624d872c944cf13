"""What every part of a run shares: the leadgate config it writes, the CRM control calls, the Redis client."""

from __future__ import annotations

import multiprocessing
import os
from dataclasses import dataclass
from pathlib import Path

import httpx

from adapters import KINDS
from bench.load import FACEBOOK_APP_SECRET
from leadgate import defaults
from leadgate.config import Config
from leadgate.config import load_config
from leadgate.redis_client import client_for_url
from leadgate.runtime import Runtime

__all__ = ["API_KEY", "FACEBOOK_SOURCE", "FORM_SOURCE", "Bench", "base_env", "gunicorn_settings", "write_config"]

API_KEY = "cg_bench"
FORM_SOURCE = "contact-us"
FACEBOOK_SOURCE = "fb"

CONFIG = """\
destinations:
  main:
    base_url: {crm_url}
    api_key: {api_key}
delivery:
  batch_size: {batch_size}
  calls_in_flight: {calls_in_flight}
data_dir: {data_dir}
sources:
  {form}:
    kind: form
    tags: [website]
    phone_region: US
  {facebook}:
    kind: facebook
    app_secret: {app_secret}
    verify_token: bench-verify-token
    access_token: bench-page-token
    graph_api_url: http://127.0.0.1:9/v21.0
    phone_region: US
    tags: [facebook]
"""


def write_config(path: Path, crm_url: str, batch_size: int, calls_in_flight: int = defaults.CALLS_IN_FLIGHT) -> Path:
    """A leadgate.yaml with one form and one facebook source delivering to the sandbox CRM."""
    path.write_text(
        CONFIG.format(
            crm_url=crm_url,
            api_key=API_KEY,
            batch_size=batch_size,
            calls_in_flight=calls_in_flight,
            data_dir=path.parent / "var",
            form=FORM_SOURCE,
            facebook=FACEBOOK_SOURCE,
            app_secret=FACEBOOK_APP_SECRET,
        )
    )
    return path


def gunicorn_settings(env: dict[str, str]) -> tuple[int, int]:
    """(workers, threads) gunicorn.conf.py will use with ``env``: the same for every contender."""
    workers = int(env.get("WEB_CONCURRENCY") or multiprocessing.cpu_count() * 2)
    threads = int(env.get("GUNICORN_THREADS") or 4)
    return workers, threads


@dataclass
class Bench:
    """The run's shared handles: where files go, the CRM, Redis, and the config files."""

    workdir: Path
    crm_url: str
    redis_url: str
    env: dict[str, str]
    """The environment every leadgate process gets (REDIS_URL, LEADGATE_CONFIG, ...)."""

    def __post_init__(self) -> None:
        self.http = httpx.Client(timeout=30, trust_env=False)
        self.redis = client_for_url(self.redis_url)

    def config_path(self, batch_size: int, calls_in_flight: int = defaults.CALLS_IN_FLIGHT) -> Path:
        path = self.workdir / f"leadgate-batch{batch_size}-calls{calls_in_flight}.yaml"
        if not path.exists():
            write_config(path, self.crm_url, batch_size, calls_in_flight)
        return path

    def config(self, batch_size: int) -> Config:
        return load_config(self.config_path(batch_size), environ={"REDIS_URL": self.redis_url}, kinds=KINDS)

    def runtime(self, batch_size: int) -> Runtime:
        return Runtime.from_config(self.config(batch_size), client=client_for_url(self.redis_url))

    def leadgate_env(self, batch_size: int, calls_in_flight: int = defaults.CALLS_IN_FLIGHT) -> dict[str, str]:
        config = self.config_path(batch_size, calls_in_flight)
        return {**self.env, "LEADGATE_CONFIG": str(config), "REDIS_URL": self.redis_url}

    def crm_latency(self, seconds: float) -> None:
        """Every ConnectGain API answer waits ``seconds`` (the sandbox's latency fault, until changed)."""
        if seconds:
            response = self.http.post(f"{self.crm_url}/_sandbox/faults", json={"latency": seconds})
        else:
            response = self.http.delete(f"{self.crm_url}/_sandbox/faults")
        response.raise_for_status()

    def crm_reset(self, latency: float) -> None:
        self.http.post(f"{self.crm_url}/_sandbox/reset").raise_for_status()
        self.crm_latency(latency)

    def crm_get(self, what: str) -> list[dict]:
        return self.http.get(f"{self.crm_url}/_sandbox/{what}").json()

    def flush(self) -> None:
        self.redis.flushdb()

    def close(self) -> None:
        self.http.close()
        self.redis.close()


def base_env() -> dict[str, str]:
    """This environment minus what would point leadgate elsewhere; logs stay at the production default."""
    drop = ("LEADGATE_CONFIG", "REDIS_URL", "LEADGATE_SANDBOX_URL", "LEADGATE_ADMIN_TOKEN", "PORT", "HOST")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PYTHONUNBUFFERED"] = "1"
    return env
