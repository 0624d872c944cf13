"""Sending alerts: the channels (Slack-compatible webhook, signed JSON webhook, SMTP email) and the loop.

The :class:`AlertLoop` runs in its own thread of every worker process (started next to the
dispatcher by :func:`workers.worker.run_worker`); a short Redis lease lets one of them evaluate at a
time. Each round it samples the hourly traffic, runs the Facebook watchdog when due, evaluates the
conditions (:mod:`leadgate.conditions`), and sends what :func:`leadgate.alerts.plan` says. A send
is retried a few times with backoff; one that still fails is tried again next round. Nothing here
runs in a delivery job or a request, and no error of it reaches the thread that keeps leads moving.

The webhook channel signs each post: ``X-Leadgate-Signature: sha256=<hex>`` is the HMAC-SHA256 of
the raw body with the channel's ``secret``, and ``X-Leadgate-Timestamp`` repeats the body's
``sent_at`` (unix seconds) so a receiver can refuse old replays (docs/alerts.md shows the check).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from collections.abc import Mapping
from email.message import EmailMessage

import httpx
import redis

from leadgate import defaults
from leadgate.alert_settings import Channel
from leadgate.alerts import AlertBook
from leadgate.alerts import Notice
from leadgate.alerts import plan
from leadgate.conditions import evaluate
from leadgate.page_health import PageHealthStore
from leadgate.runtime import Runtime
from leadgate.traffic import Traffic
from workers.clients import HTTPClient
from workers.clients import pooled
from workers.errors import DeliveryError
from workers.errors import PermanentError
from workers.errors import TransientError
from workers.retrying import call_with_retries
from workers.watchdogs import check_facebook_pages

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "AlertClient",
    "AlertLoop",
    "send_everywhere",
    "send_notice",
    "sign_body",
    "sample_notice",
]

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Leadgate-Signature"
TIMESTAMP_HEADER = "X-Leadgate-Timestamp"
BODY_KEEP = 200


class AlertClient(HTTPClient):
    """Posts alerts to Slack-compatible and generic webhooks over a keep-alive pool of its own."""

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> None:
        """One POST; a transport failure, 408, 429 or 5xx is transient, another non-2xx permanent."""
        try:
            response = self.http.post(url, content=body, headers={"Content-Type": "application/json", **headers})
        except httpx.TimeoutException as err:
            raise TransientError(f"timed out ({type(err).__name__})") from None
        except httpx.TransportError as err:
            raise TransientError(f"could not connect ({type(err).__name__})") from None
        status = response.status_code
        if 200 <= status < 300:
            return
        text = f"answered {status}: {response.text[:BODY_KEEP]}"
        if status in (408, 429) or status >= 500:
            raise TransientError(text, status_code=status)
        raise PermanentError(text, status_code=status)


def sign_body(secret: str, body: bytes) -> str:
    """The ``X-Leadgate-Signature`` value of ``body``: ``sha256=`` and the hex HMAC-SHA256 with ``secret``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _webhook_post(channel: Channel, notice: Notice, client: AlertClient) -> None:
    sent_at = int(time.time())
    body = json.dumps({"type": "leadgate.alert", **notice.as_dict(), "sent_at": sent_at}).encode()
    headers = {TIMESTAMP_HEADER: str(sent_at), SIGNATURE_HEADER: sign_body(channel.secret, body)}
    client.post(channel.url, body, headers)


def _slack_post(channel: Channel, notice: Notice, client: AlertClient) -> None:
    client.post(channel.url, json.dumps({"text": notice.text()}).encode(), {})


def _email(channel: Channel, notice: Notice, client: AlertClient) -> None:
    """One SMTP session: STARTTLS when the server offers it, login when a user is set."""
    message = EmailMessage()
    message["Subject"] = notice.headline
    message["From"] = channel.sender
    message["To"] = ", ".join(channel.recipients)
    message.set_content(notice.text())
    context = ssl.create_default_context()
    try:
        if channel.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                channel.host, channel.port, timeout=channel.timeout_seconds, context=context
            )
        else:
            smtp = smtplib.SMTP(channel.host, channel.port, timeout=channel.timeout_seconds)
        with smtp:
            smtp.ehlo()
            if channel.security == "starttls" and smtp.has_extn("starttls"):
                smtp.starttls(context=context)
                smtp.ehlo()
            elif channel.user and channel.security == "starttls":
                raise PermanentError(
                    f"{channel.host} does not offer STARTTLS: refusing to send the password in the clear "
                    "(set security: none to allow it)"
                )
            if channel.user:
                smtp.login(channel.user, channel.password)
            smtp.send_message(message)
    except (smtplib.SMTPAuthenticationError, smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as err:
        raise PermanentError(f"SMTP refused: {type(err).__name__} {_smtp_reason(err)}") from None
    except smtplib.SMTPResponseException as err:
        kind = TransientError if 400 <= err.smtp_code < 500 else PermanentError
        raise kind(f"SMTP answered {err.smtp_code} {_smtp_reason(err)}") from None
    except (smtplib.SMTPException, OSError) as err:
        raise TransientError(f"SMTP failed: {type(err).__name__}") from None


def _smtp_reason(err: smtplib.SMTPException) -> str:
    raw = getattr(err, "smtp_error", b"")
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    return text[:BODY_KEEP]


SENDERS: dict[str, Callable[[Channel, Notice, AlertClient], None]] = {
    "slack": _slack_post,
    "webhook": _webhook_post,
    "email": _email,
}


def send_notice(
    channel: Channel, notice: Notice, client: AlertClient, sleep: Callable[[float], None] = time.sleep
) -> str:
    """Sends one notice on one channel, retried with backoff; ``ok`` or why it failed (never raises)."""
    sender = SENDERS[channel.kind]
    try:
        call_with_retries(
            lambda _: sender(channel, notice, client),
            tries=defaults.ALERT_SEND_TRIES,
            wait=lambda n, _: float(2 ** (n - 1)),
            sleep=sleep,
        )
    except DeliveryError as err:
        log.warning("alert to %s failed: %s", channel.name, err.message)
        return err.message
    except Exception as err:  # a bug in one channel must not keep the others from hearing
        log.exception("alert to %s failed", channel.name)
        return f"{type(err).__name__}"
    return "ok"


def alert_client(channels: tuple[Channel, ...]) -> AlertClient:
    timeout = max((c.timeout_seconds for c in channels), default=defaults.ALERT_SEND_TIMEOUT_SECONDS)
    return pooled(AlertClient, timeout)


def send_everywhere(
    channels: tuple[Channel, ...], notice: Notice, sleep: Callable[[float], None] = time.sleep
) -> dict[str, str]:
    """Sends ``notice`` on every channel: channel name -> ``ok`` or the reason it failed."""
    client = alert_client(channels)
    return {channel.name: send_notice(channel, notice, client, sleep) for channel in channels}


def sample_notice(now: float | None = None) -> Notice:
    """What ``leadgate alerts test`` sends."""
    now = time.time() if now is None else now
    return Notice(
        state="test",
        key="test",
        kind="test",
        subject="",
        title="test alert from leadgate: this channel works",
        since=now,
        affected=0,
        fix="nothing to fix",
        severity="warning",
        at=now,
    )


class AlertLoop:
    """Evaluates the conditions and sends alerts every ``evaluate_every``, in a thread of its own."""

    def __init__(self, rt: Runtime, sleep: Callable[[float], None] = time.sleep):
        self.rt = rt
        self.settings = rt.config.alerts
        self.book = AlertBook(rt.redis, rt.store.prefix)
        self.traffic = Traffic(rt.redis, rt.store.prefix)
        self.owner = uuid.uuid4().hex
        self.sleep = sleep
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def lease_seconds(self) -> float:
        """Outlives one round, retries on every channel included, so two workers never evaluate together."""
        tries = sum(2 ** (n - 1) for n in range(1, defaults.ALERT_SEND_TRIES))
        per_channel = defaults.ALERT_SEND_TRIES * defaults.ALERT_SEND_TIMEOUT_SECONDS + tries
        return 2 * self.settings.evaluate_every + per_channel * max(len(self.settings.channels), 1)

    def run_once(self, now: float | None = None) -> list[Notice]:
        """One round; returns the notices it sent (or tried to). Does nothing when another worker holds the lease."""
        now = time.time() if now is None else now
        if not self.book.take_lease(self.owner, self.lease_seconds):
            return []
        self.traffic.sample(self.rt.store.counters_key, now)
        if self._facebook_due(now):
            check_facebook_pages(self.rt)
        conditions = evaluate(self.rt, now)
        notices = plan(conditions, self.book.states(), now, self.settings.repeat_after)
        channels = self.settings.channels
        for notice in notices:
            results = send_everywhere(channels, notice, self.sleep) if channels else {}
            delivered = not channels or any(result == "ok" for result in results.values())
            self.book.record(notice, delivered)
            self.book.log(notice, results)
        noticed = {n.key for n in notices}
        self.book.refresh(c for c in conditions if c.key not in noticed)
        return notices

    def _facebook_due(self, now: float) -> bool:
        if not any(s.kind == "facebook" for s in self.rt.config.sources.values()):
            return False
        last = PageHealthStore(self.rt.redis, self.rt.store.prefix).last_checked()
        return now - last >= self.settings.facebook_check_every

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="leadgate-alerts", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            if self._thread.is_alive():
                return  # still in a round (a slow channel): its lease lapses by itself
        try:
            self.book.release_lease(self.owner)  # another worker may take over at once
        except redis.RedisError:
            pass

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except redis.RedisError as err:
                log.warning("alert loop cannot reach redis: %s", type(err).__name__)
            except Exception:  # an alert bug must never stop the worker, nor this loop for good
                log.exception("alert loop failed; trying again next round")
            self._stop.wait(self.settings.evaluate_every)
