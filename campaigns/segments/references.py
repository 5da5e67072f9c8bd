"""Membership of other segments: finding references and inlining them, refusing cycles."""

from __future__ import annotations

from typing import Any, Callable, Mapping

from campaigns.segments.parsing import parse_rules
from campaigns.segments.rules import (
    MAX_NODES, AllOf, AnyOf, EventCondition, Not, Rule, RuleIssue, SegmentMembership,
    SegmentRuleError, child_path,
)

# Inlining can multiply a rule (A uses B twice, B uses C twice...), so bound the result.
MAX_EXPANDED_NODES = 10 * MAX_NODES

SegmentResolver = Callable[[int], Any]


def _leaves(rule: Rule):
    if isinstance(rule, (AllOf, AnyOf)):
        for child in rule.rules:
            yield from _leaves(child)
    elif isinstance(rule, Not):
        yield from _leaves(rule.rule)
    else:
        yield rule


def referenced_segments(rule: Rule) -> frozenset[int]:
    """Ids of the segments this rule refers to directly."""
    return frozenset(leaf.segment_id for leaf in _leaves(rule)
                     if isinstance(leaf, SegmentMembership))


def event_names(rule: Rule) -> frozenset[str]:
    """Names of the events an (expanded) rule looks at, so a trigger loads only those."""
    return frozenset(leaf.name for leaf in _leaves(rule) if isinstance(leaf, EventCondition))


def expand_segments(rule: Rule, *, resolve_segment: SegmentResolver | None,
                    segment_id: int | None = None) -> Rule:
    """The rule with every segment reference replaced by that segment's rules.

    `resolve_segment(id)` returns the rules (a Rule, or rule JSON) and raises LookupError for
    an unknown id. `segment_id` is the segment being saved, so a reference back to it is a
    cycle too. Problems are raised together as SegmentRuleError, at the referring path.
    """
    expansion = _Expansion(resolve_segment)
    start = (segment_id,) if segment_id is not None else ()
    expanded = expansion.walk(rule, "$", start)
    if expansion.issues:
        raise SegmentRuleError(expansion.issues)
    return expanded


class _Expansion:
    def __init__(self, resolve_segment: SegmentResolver | None):
        self.resolve_segment = resolve_segment
        self.issues: list[RuleIssue] = []
        self.nodes = 0
        self.cache: dict[int, Rule | None] = {}

    def walk(self, rule: Rule, path: str, chain: tuple[int, ...], inlined: bool = False) -> Rule:
        """`inlined`: inside another segment's rules, where problems are reported at the
        reference (`path`), the place the author can change."""
        self.nodes += 1
        if self.nodes == MAX_EXPANDED_NODES + 1:
            self.issues.append(RuleIssue(path, "the referenced segments add up to more than "
                                               f"{MAX_EXPANDED_NODES} conditions"))
        if self.nodes > MAX_EXPANDED_NODES:
            return AnyOf(())
        if isinstance(rule, (AllOf, AnyOf)):
            key = "all" if isinstance(rule, AllOf) else "any"
            return type(rule)(tuple(
                self.walk(child, path if inlined else f"{child_path(path, key)}[{index}]",
                          chain, inlined)
                for index, child in enumerate(rule.rules)))
        if isinstance(rule, Not):
            return Not(self.walk(rule.rule, path if inlined else child_path(path, "not"), chain,
                                 inlined))
        if isinstance(rule, SegmentMembership):
            return self.membership(rule.segment_id,
                                   path if inlined else child_path(path, "segment"), chain)
        return rule

    def membership(self, segment_id: int, path: str, chain: tuple[int, ...]) -> Rule:
        if segment_id in chain:
            loop = " → ".join(str(each) for each in chain[chain.index(segment_id):])
            self.issues.append(RuleIssue(path, f"segment {segment_id} refers back to itself "
                                               f"({loop} → {segment_id})"))
            return AnyOf(())
        target = self.resolve(segment_id, path)
        if target is None:
            return AnyOf(())
        return self.walk(target, path, chain + (segment_id,), inlined=True)

    def resolve(self, segment_id: int, path: str) -> Rule | None:
        if segment_id not in self.cache:
            self.cache[segment_id] = self._load(segment_id, path)
        return self.cache[segment_id]

    def _load(self, segment_id: int, path: str) -> Rule | None:
        if self.resolve_segment is None:
            self.issues.append(RuleIssue(path, "segment references cannot be used here"))
            return None
        try:
            target = self.resolve_segment(segment_id)
        except LookupError:
            self.issues.append(RuleIssue(path, f"segment {segment_id} does not exist"))
            return None
        if isinstance(target, Mapping):
            try:
                target = parse_rules(target)
            except SegmentRuleError as error:
                self.issues.append(RuleIssue(path, f"segment {segment_id} has invalid rules: "
                                                   f"{error}"))
                return None
        return target

