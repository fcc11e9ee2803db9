"""The poller: deadline on a fake clock, fail-fast, last state in the message, transient errors, hold."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import requests
import urllib3

from esoconf.wait import (
    Clock,
    StateChanged,
    TerminalState,
    Timeouts,
    WaitTimeout,
    hold,
    is_transient_api_error,
    retry_transient,
    wait_for,
)


@dataclass
class FakeClock:
    """Monotonic time that only moves when the poller sleeps."""

    now_s: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def now(self) -> float:
        return self.now_s

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now_s += seconds

    def clock(self) -> Clock:
        return Clock(now=self.now, sleep=self.sleep)


def states(*values: object) -> Iterator[object]:
    """Yield values in order, then repeat the last one forever (raising it if it is an exception)."""
    yield from values
    while True:
        yield values[-1]


def fetcher(*values: object):  # type: ignore[no-untyped-def]
    seq = states(*values)

    def fetch() -> object:
        value = next(seq)
        if isinstance(value, BaseException):
            raise value
        return value

    return fetch


def test_returns_the_first_state_that_satisfies_until() -> None:
    clock = FakeClock()

    got = wait_for(
        fetcher("Pending", "Pending", "Ready"),
        lambda s: s == "Ready",
        timeout=10,
        what="store",
        interval=2,
        clock=clock.clock(),
    )

    assert got == "Ready" and clock.sleeps == [2, 2]


def test_deadline_message_shows_last_state_and_poll_count() -> None:
    clock = FakeClock()
    last = {
        "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "InvalidProviderConfig"}]}
    }

    with pytest.raises(WaitTimeout) as err:
        wait_for(
            fetcher({"status": {}}, last),
            lambda s: False,
            timeout=5,
            what="ClusterSecretStore vault-backend",
            interval=2,
            clock=clock.clock(),
        )

    message = str(err.value)
    assert message.startswith("ClusterSecretStore vault-backend: not reached within 5s (4 polls)")
    assert "reason: InvalidProviderConfig" in message
    assert sum(clock.sleeps) == 5  # the last sleep is cut to the deadline, never past it


def test_fail_fast_stops_at_the_terminal_state_without_waiting() -> None:
    clock = FakeClock()

    with pytest.raises(TerminalState, match="gave up early, image pull failed") as err:
        wait_for(
            fetcher("Pending", "ErrImagePull"),
            lambda s: s == "Running",
            timeout=300,
            what="pod",
            fail_if=lambda s: "image pull failed" if s == "ErrImagePull" else None,
            clock=clock.clock(),
        )

    assert "ErrImagePull" in str(err.value) and clock.sleeps == [1.0]


def test_transient_errors_are_recorded_as_last_state_and_polling_continues() -> None:
    fetch = fetcher(ConnectionError("apiserver reset"), "Ready")

    assert (
        wait_for(
            fetch,
            lambda s: s == "Ready",
            timeout=10,
            what="x",
            transient=(ConnectionError,),
            clock=FakeClock().clock(),
        )
        == "Ready"
    )


def test_timeout_after_only_transient_errors_shows_the_error() -> None:
    with pytest.raises(WaitTimeout, match="ConnectionError: apiserver reset"):
        wait_for(
            fetcher(ConnectionError("apiserver reset")),
            lambda s: True,
            timeout=3,
            what="x",
            transient=(ConnectionError,),
            clock=FakeClock().clock(),
        )


def test_non_transient_error_propagates_at_once() -> None:
    with pytest.raises(KeyError):
        wait_for(
            fetcher(KeyError("boom")),
            lambda s: True,
            timeout=3,
            what="x",
            transient=(ConnectionError,),
            clock=FakeClock().clock(),
        )


def test_hold_passes_when_state_holds_for_the_whole_window() -> None:
    clock = FakeClock()

    assert (
        hold(
            fetcher("absent"),
            lambda s: s == "absent",
            duration=20,
            what="secret stays absent",
            interval=5,
            clock=clock.clock(),
        )
        == "absent"
    )
    assert sum(clock.sleeps) == 20


def test_hold_fails_with_the_state_that_broke_it() -> None:
    with pytest.raises(
        StateChanged, match=r"secret stays absent: did not hold for 20s\n  state seen:\n    synced"
    ):
        hold(
            fetcher("absent", "absent", "synced"),
            lambda s: s == "absent",
            duration=20,
            what="secret stays absent",
            interval=5,
            clock=FakeClock().clock(),
        )


def test_hold_with_nothing_observed_fails_instead_of_passing() -> None:
    with pytest.raises(
        StateChanged,
        match=r"nothing observed in 10s, every poll failed\n  last error:\n"
        r"    ConnectionError: apiserver down",
    ):
        hold(
            fetcher(ConnectionError("apiserver down")),
            lambda s: True,
            duration=10,
            what="secret stays absent",
            transient=(ConnectionError,),
            clock=FakeClock().clock(),
        )


def test_named_timeouts_scale_but_poll_interval_does_not() -> None:
    timeouts = Timeouts(scale=2)

    assert (timeouts.store_ready, timeouts.poll_interval) == (240.0, 1.0)
    with pytest.raises(AttributeError, match="no named timeout 'store_redy'; known: .*store_ready"):
        _ = timeouts.store_redy


class ApiError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (ApiError(429), True),
        (ApiError(503), True),
        (ApiError(404), False),
        (ApiError(409), False),
        (ConnectionResetError(), True),
        (ValueError(), False),
        # hvac through a port-forward that just died: requests' own ConnectionError (not the builtin)
        (requests.exceptions.ConnectionError("Connection refused"), True),
        (requests.exceptions.ConnectTimeout("timed out"), True),
        (urllib3.exceptions.MaxRetryError(None, "/v1/sys/health"), True),  # type: ignore[arg-type]
        (requests.exceptions.InvalidURL("bad"), False),
    ],
    ids=["429", "503", "404", "409", "connection-reset", "value-error", "requests-connection-error",
         "requests-connect-timeout", "urllib3-max-retry", "requests-invalid-url"],
)
def test_transient_api_error_classification(exc: BaseException, transient: bool) -> None:
    assert is_transient_api_error(exc) is transient


def test_retry_transient_retries_5xx_then_returns() -> None:
    calls = iter([ApiError(503), ApiError(500), "ok"])

    @retry_transient(attempts=3, max_wait=0)
    def call() -> str:
        value = next(calls)
        if isinstance(value, Exception):
            raise value
        return value

    assert call() == "ok"


def test_retry_transient_does_not_retry_4xx() -> None:
    attempts = []

    @retry_transient(attempts=5, max_wait=0)
    def call() -> None:
        attempts.append(1)
        raise ApiError(404)

    with pytest.raises(ApiError):
        call()
    assert len(attempts) == 1
