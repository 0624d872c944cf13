"""``/admin/watch`` and ``/admin/alerts``: each source's week at a glance, its watchdogs, and the alerts sent.

The watch page draws, per source, leads per hour over the last 7 days (accepted, rejected, dead) as a
server-rendered SVG (no script, no build step; it scales to a phone's width), shades the silences
(stretches without an accepted lead longer than the source's bound), and shows the day's speed to
lead (p50/p95, with the platform's delay apart from leadgate's), the state of each watchdog (token
expiry, subscription, last lead) and the conditions active now. The alerts page lists what was sent,
when, and what each channel answered. Both only read: nothing here calls Meta or sends anything.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from flask import Blueprint
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for

from gateway import auth
from gateway.dashboard import headers
from gateway.dashboard import runtime
from leadgate.alerts import AlertBook
from leadgate.alerts import describe_duration
from leadgate.conditions import WEEK
from leadgate.conditions import dead_letter_times
from leadgate.conditions import evaluate
from leadgate.conditions import silence_bound
from leadgate.page_health import PageHealth
from leadgate.page_health import PageHealthStore
from leadgate.speed import day_percentiles
from leadgate.traffic import HOUR
from leadgate.traffic import HourCount
from leadgate.traffic import Traffic
from leadgate.traffic import hour_of

__all__ = ["bp"]

bp = Blueprint("watch", __name__, url_prefix="/admin")
bp.after_request(headers)

CHART_WIDTH = 672
"""4 units per hour over 168 hours; the SVG's viewBox, stretched to the page's width."""
CHART_HEIGHT = 96
BAR = 4


@bp.before_request
def guard() -> Any:
    """The dashboard's log-in: these pages only read, so there is no form to check a CSRF token on."""
    if not auth.logged_in():
        return redirect(url_for("dashboard.login", next=request.full_path.rstrip("?")))
    return None


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    height: float
    kind: str
    label: str


@dataclass(frozen=True)
class Span:
    x: float
    width: float
    label: str


def chart(
    hours: list[HourCount], bound: float | None, silent_since: float | None, now: float, counted_since: float | None
) -> dict[str, Any]:
    """The geometry of one source's 7-day chart: stacked bars per hour and the shaded silences.

    Hours before ``counted_since`` (the first sample of the counters) are unknown, not silent: never shaded.
    """
    peak = max((h.accepted + h.rejected + h.dead for h in hours), default=0) or 1
    scale = (CHART_HEIGHT - 8) / peak
    bars: list[Bar] = []
    for index, hour in enumerate(hours):
        base = float(CHART_HEIGHT)
        for kind in ("accepted", "rejected", "dead"):
            count = getattr(hour, kind)
            if not count:
                continue
            height = max(count * scale, 1.5)
            base -= height
            stamp = time.strftime("%a %H:00", time.gmtime(hour.start))
            bars.append(Bar(index * BAR, base, height, kind, f"{stamp} UTC: {count} {kind}"))
    spans: list[Span] = []
    first = hours[0].start if hours else now
    if bound is not None:
        run_start: int | None = None
        known = hour_of(counted_since) + HOUR if counted_since is not None else now
        for index, hour in enumerate([*hours, HourCount(start=0, accepted=1)]):
            if hour.accepted == 0 and run_start is None and hour.start >= known:
                run_start = index
            elif hour.accepted and run_start is not None:
                if (index - run_start) * HOUR >= bound:
                    spans.append(
                        Span(run_start * BAR, (index - run_start) * BAR, f"{index - run_start} h without a lead")
                    )
                run_start = None
    if silent_since is not None:
        start = max((silent_since - first) / HOUR * BAR, 0.0)
        spans.append(Span(start, CHART_WIDTH - start, f"silent for {describe_duration(now - silent_since)}"))
    days = [
        {"x": ((h.start - first) / HOUR) * BAR, "label": time.strftime("%a", time.gmtime(h.start))}
        for h in hours
        if h.start % 86400 == 0
    ]
    return {"bars": bars, "spans": spans, "days": days, "peak": peak, "width": CHART_WIDTH, "height": CHART_HEIGHT}


def _page_state(health: PageHealth, now: float) -> dict[str, str]:
    if health.valid is None:
        token, tone = f"not checked yet: {health.error}" if health.error else "not checked yet", "muted"
    elif not health.valid:
        token, tone = f"invalid: {health.error}", "bad"
    elif health.missing_scopes:
        token, tone = f"lacks {', '.join(health.missing_scopes)}", "bad"
    elif health.expires_at:
        left = health.expires_at - now
        token, tone = f"expires in {describe_duration(left)}", "warn" if left < 14 * 86400 else "ok"
    else:
        token, tone = "valid, never expires", "ok"
    if health.subscribed is False:
        tone = "bad"
    subscribed = {True: "subscribed to leadgen", False: "NOT subscribed to leadgen", None: "subscription not checked"}
    return {
        "label": health.label,
        "page": health.page_id,
        "token": token,
        "tone": tone,
        "subscription": subscribed[health.subscribed],
        "subscription_tone": {True: "ok", False: "bad", None: "muted"}[health.subscribed],
        "checked": f"checked {describe_duration(now - health.checked_at)} ago",
    }


def _speed(rt: Any, source: str, now: float) -> dict[str, str]:
    found = day_percentiles(rt, source, now)
    out = {}
    for part, (p50, p95, count) in found.items():
        out[part] = f"p50 {describe_duration(p50)} · p95 {describe_duration(p95)} ({count})"
    return out


@bp.get("/watch")
def watch() -> Any:
    rt = runtime()
    now = time.time()
    traffic = Traffic(rt.redis, rt.store.prefix)
    hours = traffic.hours(rt.config.sources, now, dead_letter_times(rt, now))
    active = evaluate(rt, now)
    pages = PageHealthStore(rt.redis, rt.store.prefix).all()
    counted_since = traffic.first_sample()
    cards: list[dict[str, Any]] = []
    for source_id, source in rt.config.sources.items():
        settings = rt.config.alerts.for_source(source_id)
        times = traffic.accepted_times(rt.store.source_index_key(source_id), rt.store.key, now - WEEK)
        bound, why = silence_bound(settings, times) if settings.silence else (None, "")
        silent = next((c for c in active if c.key == f"silence:{source_id}"), None)
        last = max(times) if times else None
        cards.append(
            {
                "id": source_id,
                "kind": source.kind,
                "chart": chart(hours[source_id], bound, silent.since if silent else None, now, counted_since),
                "totals": {k: sum(getattr(h, k) for h in hours[source_id]) for k in ("accepted", "rejected", "dead")},
                "last_lead": f"last lead {describe_duration(now - last)} ago" if last else "no lead in 7 days",
                "bound": f"silent after {describe_duration(bound)} ({why})" if bound else "no silence bound yet",
                "silent": silent is not None,
                "speed": _speed(rt, source_id, now),
                "pages": [_page_state(p, now) for p in pages if p.source == source_id],
                "conditions": [c for c in active if c.subject == source_id or c.subject.startswith(f"{source_id} (")],
            }
        )
    others = [c for c in active if not any(c in card["conditions"] for card in cards)]
    return render_template("watch/index.html", cards=cards, others=others, since=describe_duration)


@bp.get("/alerts")
def alerts() -> Any:
    rt = runtime()
    book = AlertBook(rt.redis, rt.store.prefix)
    channels = [channel.name for channel in rt.config.alerts.channels]
    return render_template("watch/alerts.html", sent=book.sent(200), active=book.states(), channels=channels)
