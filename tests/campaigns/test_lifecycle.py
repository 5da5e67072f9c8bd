import itertools

import pytest

from campaigns.lifecycle import Action, InvalidTransition, Status, allowed_actions, transition

LEGAL = {
    ("draft", "schedule"): "scheduled",
    ("draft", "launch"): "running",
    ("draft", "cancel"): "cancelled",
    ("scheduled", "schedule"): "scheduled",
    ("scheduled", "launch"): "running",
    ("scheduled", "start"): "running",
    ("scheduled", "pause"): "paused",
    ("scheduled", "cancel"): "cancelled",
    ("running", "pause"): "paused",
    ("running", "complete"): "completed",
    ("running", "cancel"): "cancelled",
    ("paused", "resume"): "running",
    ("paused", "cancel"): "cancelled",
}
ALL_PAIRS = list(itertools.product([s.value for s in Status], [a.value for a in Action]))


@pytest.mark.parametrize("current, action", ALL_PAIRS)
def test_every_pair_is_either_legal_with_its_target_or_refused(current, action):
    if (current, action) in LEGAL:
        assert transition(current, action) == LEGAL[(current, action)]
    else:
        with pytest.raises(InvalidTransition) as caught:
            transition(current, action)
        assert (caught.value.current, caught.value.action) == (current, action)
        assert current in str(caught.value) and action in str(caught.value)


@pytest.mark.parametrize("paused_from, expected", [("scheduled", "scheduled"), ("running", "running"), (None, "running")])
def test_resume_returns_to_where_the_pause_came_from(paused_from, expected):
    assert transition("paused", "resume", paused_from=paused_from) == expected


@pytest.mark.parametrize("paused_from", ["draft", "completed", "paused", "bogus"])
def test_resume_refuses_an_impossible_origin(paused_from):
    with pytest.raises(InvalidTransition):
        transition("paused", "resume", paused_from=paused_from)


def test_final_states_allow_nothing_and_unknown_names_are_invalid_transitions():
    assert allowed_actions("completed") == ()
    assert allowed_actions("cancelled") == ()
    assert allowed_actions("paused") == (Action.RESUME, Action.CANCEL)
    with pytest.raises(InvalidTransition):
        transition("archived", "launch")
    with pytest.raises(InvalidTransition):
        transition("draft", "explode")


def test_allowed_actions_agree_with_transition():
    for status in Status:
        for action in allowed_actions(status):
            transition(status, action)
