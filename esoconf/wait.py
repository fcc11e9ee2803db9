"""The one poller: a monotonic deadline, named timeouts, fail-fast predicates, last-state messages.

``wait_for`` polls until a predicate holds; ``hold`` asserts that a state holds for a whole window
(negative assertions such as "never becomes Ready"). Transient API errors are retried with tenacity
(``retry_transient``) and, inside a poll, recorded as the last observation instead of aborting.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import tenacity
import yaml

from .redact import REDACT, redact_object

T = TypeVar("T")

# Named timeouts in seconds, before --timeout-scale. Tests name the wait, never a number.
TIMEOUTS: Mapping[str, float] = {
    "poll_interval": 1.0,
    "api_call": 30.0,
    "apply": 30.0,
    "delete": 90.0,
    "store_ready": 120.0,
    "store_failure": 120.0,
    "secret_sync": 120.0,
    "refresh": 90.0,
    "negative_hold": 20.0,
    "pod_ready": 300.0,
    "image_pull": 180.0,
    "helm_install": 600.0,
    "cluster_create": 300.0,
    "canary": 60.0,
    "port_forward": 20.0,
    "workers_done": 1800.0,  # the worker that built a node waits this long for the others to finish
}


class Timeouts:
    """The named-timeout table scaled by ``--timeout-scale``: ``timeouts.store_ready``."""

    def __init__(self, scale: float = 1.0, table: Mapping[str, float] = TIMEOUTS) -> None:
        self.scale = scale
        self._table = dict(table)

    def __getattr__(self, name: str) -> float:
        try:
            base = self._table[name]
        except KeyError:
            known = ", ".join(sorted(self._table))
            raise AttributeError(f"no named timeout {name!r}; known: {known}") from None
        # the poll interval is not stretched: a slow machine waits longer, it does not look less often
        return base if name == "poll_interval" else base * self.scale

    def names(self) -> list[str]:
        return sorted(self._table)


class WaitTimeout(AssertionError):
    """The deadline passed; the message shows the last state observed."""


class TerminalState(AssertionError):
    """A fail-fast predicate fired: waiting longer cannot help."""


class StateChanged(AssertionError):
    """A state that had to hold for a window did not."""


def describe(state: Any) -> str:
    if isinstance(state, BaseException):
        return f"{type(state).__name__}: {REDACT(str(state))}"
    if isinstance(state, str):
        return REDACT(state)
    try:
        text = yaml.safe_dump(redact_object(state), sort_keys=False, default_flow_style=False)
        return REDACT(text.rstrip())
    except yaml.YAMLError:
        return REDACT(repr(state))


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


@dataclass
class Clock:
    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


def wait_for(fetch: Callable[[], T], until: Callable[[T], bool], *, timeout: float, what: str,
             fail_if: Callable[[T], str | None] | None = None, interval: float = 1.0,
             transient: tuple[type[BaseException], ...] = (), clock: Clock | None = None) -> T:
    """Poll ``fetch()`` until ``until(state)``; raise on deadline or on a terminal state.

    ``fail_if(state)`` returns a reason string when the state is terminal (fail fast).
    Exceptions of the ``transient`` types are recorded as the last state and polling continues.
    """
    __tracebackhide__ = True
    clock = clock or Clock()
    deadline = clock.now() + timeout
    last: Any = "<nothing observed yet>"
    polls = 0
    while True:
        polls += 1
        try:
            state = fetch()
        except transient as exc:
            last = exc
        else:
            last = state
            if until(state):
                return state
            if fail_if is not None:
                reason = fail_if(state)
                if reason:
                    raise TerminalState(f"{what}: gave up early, {reason}\n"
                                        f"  last state:\n{_indent(describe(state))}")
        remaining = deadline - clock.now()
        if remaining <= 0:
            raise WaitTimeout(f"{what}: not reached within {timeout:g}s ({polls} polls)\n"
                              f"  last state:\n{_indent(describe(last))}")
        clock.sleep(min(interval, remaining))


def hold(fetch: Callable[[], T], check: Callable[[T], bool], *, duration: float, what: str,
         interval: float = 1.0, transient: tuple[type[BaseException], ...] = (),
         clock: Clock | None = None) -> T:
    """Assert ``check(state)`` on every poll for ``duration`` seconds (negative assertions).

    A window in which every poll hit a transient error proves nothing: that raises too.
    """
    __tracebackhide__ = True
    clock = clock or Clock()
    deadline = clock.now() + duration
    seen = False
    last: Any = None
    while True:
        try:
            state = fetch()
        except transient as exc:
            if not seen:
                last = exc
        else:
            seen, last = True, state
            if not check(state):
                raise StateChanged(f"{what}: did not hold for {duration:g}s\n"
                                   f"  state seen:\n{_indent(describe(state))}")
        if clock.now() >= deadline:
            if not seen:
                raise StateChanged(f"{what}: nothing observed in {duration:g}s, every poll failed\n"
                                   f"  last error:\n{_indent(describe(last))}")
            return last
        clock.sleep(min(interval, max(deadline - clock.now(), 0)))


def is_transient_api_error(exc: BaseException) -> bool:
    """429/5xx from the API server and connection resets are worth retrying; 4xx are not."""
    status = getattr(exc, "status", None)
    if isinstance(status, int):
        return status == 429 or status >= 500
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    # requests' ConnectionError (hvac through a port-forward that just died) is not the builtin one
    return any(f"{cls.__module__}.{cls.__name__}" in _TRANSIENT_CLASSES for cls in type(exc).__mro__)


_TRANSIENT_CLASSES = {
    "requests.exceptions.ConnectionError",
    "urllib3.exceptions.MaxRetryError",
    "urllib3.exceptions.ProtocolError",
    "urllib3.exceptions.NewConnectionError",
    "urllib3.exceptions.ReadTimeoutError",
}


def retry_transient(attempts: int = 5,
                    max_wait: float = 8.0) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Decorator: retry a Kubernetes/Vault API call on transient errors, then re-raise the last one."""
    return tenacity.retry(
        retry=tenacity.retry_if_exception(is_transient_api_error),
        stop=tenacity.stop_after_attempt(attempts),
        wait=tenacity.wait_exponential(multiplier=0.5, max=max_wait),
        reraise=True,
    )
