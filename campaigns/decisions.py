"""Whether, when and on which channels one recipient gets one message.

The shell hands in what it loaded (the recipient's addresses and preferences, the policy of
the campaign or transactional template, the recent sends from Redis or the messages table)
and gets back a verdict per channel plus the channels to attempt now and those held back as
fallback. Nothing here reads a clock: `now` is an argument.

Consent rules (the Braze / Customer.io model):
- A channel opt-out (`channel_opt_ins[channel] is False`) and a carrier STOP on the number
  (`sms_opted_out`) block every category, transactional included: the person switched that
  channel off.
- A global unsubscribe (`unsubscribed_all`) blocks marketing only. Transactional messages
  (an OTP, a receipt, a shipping notice) still go, unless the channel itself is opted out.
- Transactional also bypasses topic preferences, frequency caps and quiet hours.

Order of checks for one channel, first hit wins: no_address, unsubscribed, sms_opted_out,
opted_out, topic_opted_out, quiet hours (defer), capped. Quiet hours come before the cap
because a deferred message is decided again when it comes due (`decide` with the later
`now`), and the cap must be judged against the sends of that later moment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Iterable, Mapping, Sequence
from zoneinfo import ZoneInfo

from campaigns import timezones
from campaigns.errors import InvalidSetting

CHANNELS = ("sms", "push", "email", "inapp")
CATEGORIES = ("marketing", "transactional")
STRATEGIES = ("all", "first", "fallback")

SEND = "send"
SKIP = "skip"
DEFER = "defer"

NO_ADDRESS = "no_address"
OPTED_OUT = "opted_out"
UNSUBSCRIBED = "unsubscribed"
TOPIC_OPTED_OUT = "topic_opted_out"
CAPPED = "capped"
SMS_OPTED_OUT = "sms_opted_out"
QUIET_HOURS_DEFERRED = "quiet_hours_deferred"
SKIP_REASONS = (NO_ADDRESS, OPTED_OUT, UNSUBSCRIBED, TOPIC_OPTED_OUT, CAPPED, SMS_OPTED_OUT)


class PolicyError(InvalidSetting):
    """A send policy (or part of one) that makes no sense; `field` names the offending part."""


@dataclass(frozen=True)
class QuietHours:
    """A local-time window in which marketing waits, e.g. 21:00-08:00 (wraps midnight).

    `start` is inclusive and `end` exclusive, so a message deferred to `end` is outside the
    window. `channels` limits the window to some channels (say only sms and push, which buzz);
    by default it covers them all.
    """

    start: time
    end: time
    channels: frozenset[str] = frozenset(CHANNELS)

    def __post_init__(self):
        if self.start == self.end:
            raise PolicyError("quiet_hours", "start and end must differ")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise PolicyError("quiet_hours", "start and end are local wall-clock times, without a zone")
        object.__setattr__(self, "channels", frozenset(self.channels))
        unknown = self.channels - set(CHANNELS)
        if unknown:
            raise PolicyError("quiet_hours", f"unknown channels {sorted(unknown)}")

    @property
    def wraps_midnight(self) -> bool:
        return self.start > self.end

    def contains(self, local_time: time) -> bool:
        if self.wraps_midnight:
            return local_time >= self.start or local_time < self.end
        return self.start <= local_time < self.end

    def defer_until(self, now: datetime, tz: ZoneInfo) -> datetime | None:
        """The UTC instant the window ends, if `now` is inside it in `tz`; else None.

        The end is looked up as a wall-clock time on the right local day. Around DST changes
        that time may not exist (shifted forward) or may happen twice (the first occurrence
        still ahead of `now` is used), and the result is always outside the window.
        """
        timezones.require_aware(now, "now")
        local_now = timezones.local(now, tz)
        if not self.contains(local_now.time()):
            return None
        day = local_now.date()
        if self.wraps_midnight and local_now.time() >= self.start:
            day += timedelta(days=1)
        # A few days of look-ahead covers windows that a DST gap makes momentarily endless.
        for offset in range(4):
            naive_end = datetime.combine(day + timedelta(days=offset), self.end)
            for instant in timezones.instants(naive_end, tz):
                if instant > now and not self.contains(timezones.local(instant, tz).time()):
                    return instant
        raise AssertionError("quiet hours never end")  # unreachable for start != end


@dataclass(frozen=True)
class FrequencyCap:
    """At most `max_messages` in any `window_seconds`, on each channel or across channels."""

    max_messages: int
    window_seconds: int
    per_channel: bool = False

    def __post_init__(self):
        if self.max_messages < 0:
            raise PolicyError("frequency_caps", "max_messages cannot be negative")
        if self.window_seconds <= 0:
            raise PolicyError("frequency_caps", "window_seconds must be positive")

    def scope(self, channel: str) -> str | None:
        """The channel whose sends count, or None for all channels."""
        return channel if self.per_channel else None


@dataclass(frozen=True)
class Recipient:
    contact_id: int
    email: str | None = None
    phone: str | None = None
    push_tokens: Sequence[str] = ()
    sms_opted_out: bool = False
    unsubscribed_all: bool = False
    channel_opt_ins: Mapping[str, bool] = field(default_factory=dict, hash=False)
    topic_opt_ins: Mapping[str, bool] = field(default_factory=dict, hash=False)
    timezone: str | None = None

    def address(self, channel: str) -> str | Sequence[str] | None:
        """Where this channel would deliver; None when the contact cannot be reached on it."""
        if channel == "email":
            return self.email or None
        if channel == "sms":
            return self.phone or None
        if channel == "push":
            return tuple(self.push_tokens) or None
        if channel == "inapp":
            return str(self.contact_id)
        raise PolicyError("channels", f"unknown channel {channel!r}")


@dataclass(frozen=True)
class SendPolicy:
    """How a campaign or a transactional template may reach people.

    `channels` are in priority order. `strategy`: `all` sends on every reachable channel,
    `first` on the first reachable one only, `fallback` on the first reachable one now with
    the rest held back, in order, for when it fails permanently. `topic_default_opt_in` is the
    topic's default for contacts with no preference row.
    """

    category: str = "marketing"
    channels: Sequence[str] = ("push", "email", "sms", "inapp")
    strategy: str = "all"
    topic: str | None = None
    topic_default_opt_in: bool = True
    respect_caps: bool = True
    respect_quiet_hours: bool = True
    quiet_hours: QuietHours | None = None
    frequency_caps: Sequence[FrequencyCap] = ()
    default_timezone: str = timezones.DEFAULT_ZONE

    def __post_init__(self):
        if self.category not in CATEGORIES:
            raise PolicyError("category", f"must be one of {', '.join(CATEGORIES)}")
        if self.strategy not in STRATEGIES:
            raise PolicyError("strategy", f"must be one of {', '.join(STRATEGIES)}")
        channels = tuple(self.channels)
        if not channels:
            raise PolicyError("channels", "at least one channel is needed")
        unknown = [c for c in channels if c not in CHANNELS]
        if unknown:
            raise PolicyError("channels", f"unknown channels {unknown}")
        if len(set(channels)) != len(channels):
            raise PolicyError("channels", "a channel is listed twice")
        if not timezones.is_known_zone(self.default_timezone):
            raise PolicyError("default_timezone", f"unknown time zone {self.default_timezone!r}")
        object.__setattr__(self, "channels", channels)
        object.__setattr__(self, "frequency_caps", tuple(self.frequency_caps))

    @property
    def transactional(self) -> bool:
        return self.category == "transactional"


@dataclass(frozen=True)
class RecentSends:
    """The contact's recent sends, as the shell found them.

    Either `times` (send instants per channel, e.g. from a Redis sorted set or the messages
    table) or `counts` already counted per (channel or None for all channels, window seconds),
    e.g. from expiring Redis counters; `counts` wins where both know the answer. Count
    marketing sends only: transactional messages do not use up a cap.
    """

    times: Mapping[str, Sequence[datetime]] = field(default_factory=dict, hash=False)
    counts: Mapping[tuple[str | None, int], int] = field(default_factory=dict, hash=False)

    def count(self, channel: str | None, window_seconds: int, now: datetime) -> int:
        key = (channel, window_seconds)
        if key in self.counts:
            return self.counts[key]
        since = now - timedelta(seconds=window_seconds)
        return sum(
            1
            for sent_on, moments in self.times.items()
            if channel is None or sent_on == channel
            for moment in moments
            if since < moment <= now
        )


def cap_windows(policy: SendPolicy) -> set[tuple[str | None, int]]:
    """The (channel or None, window seconds) pairs `decide` will count, for a shell that counts."""
    windows = set()
    for cap in policy.frequency_caps:
        for channel in policy.channels:
            windows.add((cap.scope(channel), cap.window_seconds))
    return windows


@dataclass(frozen=True)
class Decision:
    """The verdict for one channel: send now, skip with a reason, or defer until a time."""

    channel: str
    action: str
    reason: str | None = None
    until: datetime | None = None

    @classmethod
    def send(cls, channel: str) -> "Decision":
        return cls(channel, SEND)

    @classmethod
    def skip(cls, channel: str, reason: str) -> "Decision":
        return cls(channel, SKIP, reason)

    @classmethod
    def defer(cls, channel: str, until: datetime, reason: str = QUIET_HOURS_DEFERRED) -> "Decision":
        return cls(channel, DEFER, reason, until)

    @property
    def eligible(self) -> bool:
        """Send now or later: the contact can be reached on this channel."""
        return self.action != SKIP


@dataclass(frozen=True)
class RecipientDecision:
    """Everything `decide` concluded for one recipient.

    `decisions` holds one verdict per policy channel, in priority order. `attempt` are the
    channels to send on now and `deferred` those to decide again at their `until`; both follow
    the strategy. `fallback` (strategy `fallback` only) lists the other eligible channels, in
    order, to try one by one when the attempted one fails permanently (see `next_fallback`).
    Channels a `first` or `fallback` strategy did not pick get no message row.
    """

    contact_id: int
    decisions: tuple[Decision, ...]
    attempt: tuple[str, ...]
    deferred: tuple[Decision, ...]
    fallback: tuple[str, ...]

    def for_channel(self, channel: str) -> Decision:
        for decision in self.decisions:
            if decision.channel == channel:
                return decision
        raise KeyError(channel)

    @property
    def skipped(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if d.action == SKIP)


def decide(
    recipient: Recipient,
    policy: SendPolicy,
    recent: RecentSends | None,
    now: datetime,
) -> RecipientDecision:
    """Decide every policy channel for one recipient, then pick channels by strategy."""
    timezones.require_aware(now, "now")
    recent = recent or RecentSends()
    tz = timezones.zone(recipient.timezone, policy.default_timezone)
    quiet_until = _quiet_until(policy, now, tz)
    planned: dict[str, int] = {}
    decisions = []
    for channel in policy.channels:
        decision = _decide_channel(recipient, policy, channel, recent, planned, quiet_until, now)
        decisions.append(decision)
        # Only `all` sends several channels at once; other strategies' later channels are
        # alternatives, so they are judged as if the first had not gone out.
        if decision.action == SEND and policy.strategy == "all":
            planned[channel] = planned.get(channel, 0) + 1
    return _by_strategy(recipient.contact_id, policy.strategy, tuple(decisions))


def decide_channel(
    recipient: Recipient,
    policy: SendPolicy,
    channel: str,
    recent: RecentSends | None,
    now: datetime,
) -> Decision:
    """The verdict for a single channel, e.g. when a fallback channel comes up for its turn."""
    timezones.require_aware(now, "now")
    tz = timezones.zone(recipient.timezone, policy.default_timezone)
    return _decide_channel(
        recipient, policy, channel, recent or RecentSends(), {}, _quiet_until(policy, now, tz), now
    )


def next_fallback(
    channels: Sequence[str],
    attempted: Iterable[str],
    failed_channel: str,
) -> str | None:
    """The next channel to try after `failed_channel` failed permanently, or None when out.

    `channels` is the ordered fallback list (or the policy's channel order); channels already
    attempted, and the one that just failed, are passed over.
    """
    done = set(attempted) | {failed_channel}
    for channel in channels:
        if channel not in done:
            return channel
    return None


def consent_refusal(
    recipient: Recipient,
    channel: str,
    category: str,
    topic: str | None,
    topic_default_opt_in: bool = True,
) -> str | None:
    """Why the person's consent forbids this channel now, or None when it allows it.

    Asked at decision time and again when a waiting message comes due (quiet hours over, a
    send time reached, a retry): someone who unsubscribed or texted STOP in between must not
    get it. Transactional messages ignore marketing choices but never a channel opt-out.
    """
    marketing = category != "transactional"
    if marketing and recipient.unsubscribed_all:
        return UNSUBSCRIBED
    if channel == "sms" and recipient.sms_opted_out:
        return SMS_OPTED_OUT
    if recipient.channel_opt_ins.get(channel, True) is False:
        return OPTED_OUT
    if marketing and topic is not None and not recipient.topic_opt_ins.get(topic, topic_default_opt_in):
        return TOPIC_OPTED_OUT
    return None


def _quiet_until(policy: SendPolicy, now: datetime, tz: ZoneInfo) -> datetime | None:
    if policy.transactional or not policy.respect_quiet_hours or policy.quiet_hours is None:
        return None
    return policy.quiet_hours.defer_until(now, tz)


def _decide_channel(
    recipient: Recipient,
    policy: SendPolicy,
    channel: str,
    recent: RecentSends,
    planned: Mapping[str, int],
    quiet_until: datetime | None,
    now: datetime,
) -> Decision:
    marketing = not policy.transactional
    if recipient.address(channel) is None:
        return Decision.skip(channel, NO_ADDRESS)
    refusal = consent_refusal(recipient, channel, policy.category, policy.topic, policy.topic_default_opt_in)
    if refusal is not None:
        return Decision.skip(channel, refusal)
    if quiet_until is not None and channel in policy.quiet_hours.channels:
        return Decision.defer(channel, quiet_until)
    if marketing and policy.respect_caps and _capped(policy, channel, recent, planned, now):
        return Decision.skip(channel, CAPPED)
    return Decision.send(channel)


def _capped(
    policy: SendPolicy,
    channel: str,
    recent: RecentSends,
    planned: Mapping[str, int],
    now: datetime,
) -> bool:
    for cap in policy.frequency_caps:
        scope = cap.scope(channel)
        already = recent.count(scope, cap.window_seconds, now)
        already += planned.get(channel, 0) if scope else sum(planned.values())
        if already >= cap.max_messages:
            return True
    return False


def _by_strategy(contact_id: int, strategy: str, decisions: tuple[Decision, ...]) -> RecipientDecision:
    eligible = [d for d in decisions if d.eligible]
    if strategy != "all":
        chosen, rest = eligible[:1], eligible[1:]
    else:
        chosen, rest = eligible, []
    return RecipientDecision(
        contact_id=contact_id,
        decisions=decisions,
        attempt=tuple(d.channel for d in chosen if d.action == SEND),
        deferred=tuple(d for d in chosen if d.action == DEFER),
        fallback=tuple(d.channel for d in rest) if strategy == "fallback" else (),
    )
