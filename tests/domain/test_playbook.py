"""The playbook as data: the built-in table, and a TOML file that overrides it."""
from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.playbook import DEFAULT_PLAYBOOK, PlaybookError, load_playbook
from bot.domain.types import StepKey


def test_default_playbook_is_the_spec_table_in_order():
    assert [step.key for step in DEFAULT_PLAYBOOK.steps] == list(StepKey)
    slas = {step.key: step.sla for step in DEFAULT_PLAYBOOK.steps}
    assert slas == {
        StepKey.CLAIM: timedelta(minutes=10), StepKey.ACKNOWLEDGE: timedelta(minutes=15),
        StepKey.APOLOGIZE: timedelta(minutes=30), StepKey.FIX: timedelta(hours=4),
        StepKey.MAKE_IT_RIGHT: timedelta(hours=24), StepKey.BUY_IN: timedelta(hours=24),
        StepKey.FOLLOW_UP: timedelta(hours=24),
    }
    assert all(step.why and "\n" not in step.why for step in DEFAULT_PLAYBOOK.steps)


def test_file_overrides_one_step_and_the_rest_keep_their_defaults():
    playbook = load_playbook('[[steps]]\nkey = "acknowledge"\ntitle = "Call the customer back"\n'
                             'why = "A voice calms people."\nsla = "5m"\n')
    step = playbook.step(StepKey.ACKNOWLEDGE)
    assert (step.title, step.why, step.sla) == ("Call the customer back", "A voice calms people.",
                                                timedelta(minutes=5))
    assert playbook.step(StepKey.FIX) == DEFAULT_PLAYBOOK.step(StepKey.FIX)
    assert playbook.root_causes == DEFAULT_PLAYBOOK.root_causes


def test_file_may_replace_the_root_cause_list():
    playbook = load_playbook('root_causes = ["courier", "warehouse"]\n')
    assert playbook.root_causes == ("courier", "warehouse")


@pytest.mark.parametrize("text, says", [
    ("[[steps]\nkey=", "not valid TOML"),
    ('[[steps]]\nkey = "dance"\n', "unknown step key 'dance'"),
    ('[[steps]]\nkey = "fix"\nsla = "soon"\n', "bad sla 'soon'"),
    ('[[steps]]\nkey = "fix"\ncolour = "red"\n', "unknown field 'colour'"),
    ('[[steps]]\ntitle = "x"\n', "has no key"),
    ('root_causes = []\n', "root_causes"),
    ('[limits]\nx = 1\n', "unknown section"),
])
def test_broken_file_is_refused_with_one_line(text, says):
    with pytest.raises(PlaybookError) as refused:
        load_playbook(text)
    message = str(refused.value)
    assert says in message and "\n" not in message and message.startswith("PLAYBOOK_FILE")
