"""Segments: a JSON rule language over contacts (see `rules` for the language itself),
compiled to SQL for audiences and evaluated in Python on one contact for triggers."""

from campaigns.segments.audience import audience_page, count_audience, estimate_count, \
    extrapolate
from campaigns.segments.compiling import SegmentTables, compile_to_sql
from campaigns.segments.evaluation import ContactFacts, EventFact, evaluate
from campaigns.segments.explaining import explain
from campaigns.segments.instants import parse_instant
from campaigns.segments.parsing import parse_rules
from campaigns.segments.references import event_names, expand_segments, referenced_segments
from campaigns.segments.rules import (
    AllOf, AnyOf, AttributeCondition, ChannelOptIn, CountBound, EventCondition,
    FieldCondition, Not, Reachable, Rule, RuleIssue, SegmentMembership, SegmentRuleError,
    TopicSubscription,
)

__all__ = [
    "audience_page", "count_audience", "estimate_count", "extrapolate", "SegmentTables",
    "compile_to_sql", "ContactFacts", "EventFact", "evaluate", "explain", "parse_instant",
    "parse_rules", "event_names", "expand_segments", "referenced_segments", "AllOf", "AnyOf",
    "AttributeCondition", "ChannelOptIn", "CountBound", "EventCondition", "FieldCondition",
    "Not", "Reachable", "Rule", "RuleIssue", "SegmentMembership", "SegmentRuleError",
    "TopicSubscription",
]
