"""The alert engine's pure parts: the ``alerts:`` settings, the state transitions, the learned silence bound."""

from __future__ import annotations

import pytest

from leadgate.alerts import AlertState
from leadgate.alerts import Condition
from leadgate.alerts import plan
from leadgate.config import ConfigError
from leadgate.traffic import learned_silence
from tests.support.config import BASE_CONFIG
from tests.support.config import parse_yaml

HOUR = 3600.0
PAUSED = {
    "key": "paused:main",
    "kind": "paused",
    "subject": "main",
    "title": "paused",
    "since": 100.0,
    "fix": "resume it",
}


def config_with(alerts: str, **env: str):
    return parse_yaml(BASE_CONFIG.format(crm_url="http://127.0.0.1:9", api_key="k") + alerts, env)


def condition(affected: int = 1, regrow_after: float | None = None) -> Condition:
    return Condition(**PAUSED, affected=affected, regrow_after=regrow_after)


def stored(last_sent: float, sent_affected: int = 1) -> dict[str, AlertState]:
    state = AlertState(**PAUSED, affected=1, last_sent=last_sent)
    return {"paused:main": AlertState(**{**state.__dict__, "sent_affected": sent_affected})}


def test_defaults_apply_and_a_source_overrides_only_what_it_sets():
    config = config_with(
        "alerts:\n  conditions:\n    dead_letter_window: 5m\n  sources:\n    contact-us:\n      expect_every: 2h\n"
    )
    assert config.alerts.repeat_after == 4 * HOUR and config.alerts.channels == ()
    own = config.alerts.for_source("contact-us")
    assert own.expect_every == 2 * HOUR and own.dead_letter_window == 300
    assert config.alerts.for_source("other").expect_every is None


@pytest.mark.parametrize(
    ("alerts", "message"),
    [
        ("alerts:\n  repeat_after: soon\n", "alerts.repeat_after: 'soon' is not a duration"),
        ("alerts:\n  channels:\n    - kind: webhook\n      url: http://x.test/\n", "needs a secret"),
        ("alerts:\n  channels:\n    - kind: slack\n      url: ${UNSET}\n", "UNSET} is not set"),
        ("alerts:\n  channels:\n    - kind: email\n      host: smtp.test\n", "needs from"),
        ("alerts:\n  channels:\n    - kind: pager\n", "Must be one of: slack, webhook, email"),
    ],
)
def test_a_bad_alerts_section_stops_start_up_naming_the_key(alerts, message):
    with pytest.raises(ConfigError, match=message):
        config_with(alerts)


def test_a_new_condition_fires_and_an_unsent_one_fires_again():
    assert [n.state for n in plan([condition()], {}, 200.0, 4 * HOUR)] == ["firing"]
    assert [n.state for n in plan([condition()], stored(last_sent=0), 200.0, 4 * HOUR)] == ["firing"]


def test_a_sent_condition_is_quiet_until_repeat_after_then_reminded():
    assert plan([condition()], stored(last_sent=200.0), 200.0 + 4 * HOUR - 1, 4 * HOUR) == []
    assert [n.state for n in plan([condition()], stored(last_sent=200.0), 200.0 + 4 * HOUR, 4 * HOUR)] == ["reminder"]


def test_a_batched_condition_that_grew_is_updated_after_its_window():
    grown = condition(affected=5, regrow_after=600)
    assert plan([grown], stored(last_sent=200.0), 700.0, 4 * HOUR) == []
    assert [n.state for n in plan([grown], stored(last_sent=200.0), 800.0, 4 * HOUR)] == ["update"]


def test_a_stored_condition_no_longer_found_resolves():
    [notice] = plan([], stored(last_sent=200.0), 900.0, 4 * HOUR)
    assert notice.state == "resolved" and notice.headline.startswith("[leadgate RESOLVED]")
    assert "Cleared after 13 minutes" in notice.text()


def test_the_learned_silence_bound_is_four_median_gaps_at_least_an_hour():
    every_20_minutes = [i * 1200.0 for i in range(30)]
    assert learned_silence(every_20_minutes, 4, HOUR) == 80 * 60
    every_5_minutes = [i * 300.0 for i in range(30)]
    assert learned_silence(every_5_minutes, 4, HOUR) == HOUR
    assert learned_silence(every_20_minutes[:5], 4, HOUR) is None  # too few leads to learn from
