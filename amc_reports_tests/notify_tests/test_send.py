"""Sending through apprise to a real local HTTP webhook receiver; the URLs' secrets never show."""

from __future__ import annotations

import logging
import socket

import pytest

from amc_reports.notify import NotificationConfigError, Notifier, parse_targets
from amc_reports.notify.send import DeliveryRetry
from amc_reports_tests.support.alerts import sample_alert
from amc_reports_tests.support.webhook import start_receiver

TOKEN = "S3cretT0ken9f8e7d6c"
ALERT = sample_alert(
    execution_id="exec-1",
    amc_execution_id="amc-1",
    reason="AMC said FAILED: Column 'bogus' does not exist",
)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_message_reaches_a_webhook_with_title_body_and_type(webhook):
    notifier = Notifier(webhook.url(f"/hooks/{TOKEN}"), ui_url="http://dagster.internal:3000")
    delivery = notifier.send(ALERT)
    assert delivery.ok and delivery.sent == ["#1 (json://)"]
    [received] = webhook.messages()
    assert received.path == f"/hooks/{TOKEN}"
    assert received.title == "[amc_reports] weekly_perf on us: week 2026-03-08 failed"
    assert received.body["type"] == "failure"
    for expected in (
        "exec-1",
        "amc-1",
        "Column 'bogus'",
        "http://dagster.internal:3000/runs/run-123",
    ):
        assert expected in received.message


def test_one_target_down_does_not_stop_the_others_and_says_why(webhook):
    broken = start_receiver()
    broken.status = 500
    try:
        urls = f"{broken.url(f'/x/{TOKEN}')}, {webhook.url()}"
        delivery = Notifier(urls, retry=QUICK).send(ALERT)
    finally:
        broken.close()
    assert delivery.sent == ["#2 (json://)"]
    assert list(delivery.failed) == ["#1 (json://)"]
    assert "500" in delivery.failed["#1 (json://)"]
    assert TOKEN not in delivery.failed["#1 (json://)"]
    assert len(webhook.messages()) == 1


QUICK = DeliveryRetry(attempts=3, first_wait_seconds=0.05, max_wait_seconds=0.2)


def test_a_failed_delivery_is_tried_again_with_backoff_and_delivered_once(webhook, caplog):
    caplog.set_level(logging.WARNING, logger="amc_reports.notify.send")
    webhook.fail_next(2)
    delivery = Notifier(webhook.url(f"/hooks/{TOKEN}"), retry=QUICK).send(ALERT)
    assert delivery.ok and delivery.attempts == {"#1 (json://)": 3}
    assert [r.answered for r in webhook.attempts()] == [503, 503, 200]
    [received] = webhook.messages()
    assert "Column 'bogus'" in received.message
    retries = [r.getMessage() for r in caplog.records if "trying again" in r.getMessage()]
    assert len(retries) == 2 and "attempt 3 of 3" in retries[-1]
    assert all(TOKEN not in line for line in retries)


def test_retries_are_bounded(webhook):
    webhook.fail_next(10)
    delivery = Notifier(webhook.url(f"/hooks/{TOKEN}"), retry=QUICK).send(ALERT)
    assert not delivery.ok and delivery.attempts == {"#1 (json://)": 3}
    assert "503" in delivery.failed["#1 (json://)"]
    assert len(webhook.attempts()) == 3 and webhook.messages() == []


def test_secrets_of_the_urls_never_reach_a_log_or_an_error(caplog):
    caplog.set_level(logging.DEBUG)  # even with every logger at DEBUG
    password = "pa55-w0rd-Zq"
    urls = (
        f"json://user:{password}@127.0.0.1:{closed_port()}/hooks/{TOKEN}?-X-Api-Key=K3yK3yK3y99, "
        f"slack://T0ABCDEFG/B0HIJKLMN/{TOKEN}xyz, notaservice://{TOKEN}"
    )
    notifier = Notifier(urls)
    delivery = notifier.send(ALERT)
    assert not delivery.sent and set(delivery.failed) == {
        "#1 (json://)",
        "#2 (slack://)",
        "#3 (notaservice://)",
    }
    [problem] = notifier.problems
    assert "#3 (notaservice://)" in problem
    with pytest.raises(NotificationConfigError) as raised:
        notifier.check()
    shown = [repr(notifier), str(raised.value), *delivery.failed.values()]
    shown += [r.getMessage() for r in caplog.records]
    for text in shown:
        for secret in (TOKEN, password, "K3yK3yK3y99", "B0HIJKLMN"):
            assert secret not in text, (secret, text)


def test_urls_split_on_spaces_commas_and_lines_but_not_inside_a_url():
    targets = parse_targets(
        "json://a.example/x, slack://T/B/C\n  mailto://u:p@h.example?to=a@x.com,b@y.com  ,"
    )
    assert [t.scheme for t in targets] == ["json", "slack", "mailto"]
    assert targets[2].url.endswith("to=a@x.com,b@y.com")
    assert [t.label for t in targets][:2] == ["#1 (json://)", "#2 (slack://)"]
    assert TOKEN not in repr(parse_targets(f"json://h/{TOKEN}")[0])


def test_no_url_means_off():
    notifier = Notifier("  ")
    assert not notifier.enabled
    delivery = notifier.send(ALERT)
    assert delivery.sent == [] and delivery.failed == {}


def test_notify_test_command_sends_through_the_configured_urls(webhook, monkeypatch, capsys):
    from amc_reports.cli import main

    monkeypatch.delenv("AMC_REPORTS_NOTIFY_URLS", raising=False)
    assert main(["notify-test"]) == 1
    assert "AMC_REPORTS_NOTIFY_URLS" in capsys.readouterr().err

    port = closed_port()
    urls = f"{webhook.url(f'/hooks/{TOKEN}')} json://127.0.0.1:{port}/x/{TOKEN}"
    monkeypatch.setenv("AMC_REPORTS_NOTIFY_URLS", urls)
    monkeypatch.setenv("AMC_REPORTS_UI_URL", "https://dagster.example.com")
    assert main(["notify-test"]) == 1  # one of the two targets is down
    out = capsys.readouterr()
    assert "#1 (json://): sent" in out.out and "#2 (json://): NOT sent" in out.err
    assert TOKEN not in out.out + out.err
    [received] = webhook.messages()
    assert received.title == "[amc_reports] test notification"
    assert "https://dagster.example.com" in received.message
