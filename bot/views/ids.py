"""Action ids, callback ids and button labels: the names people and tests find things by."""
from __future__ import annotations

from typing import Final

CLAIM: Final = "recovery.claim"
ASSIGN: Final = "recovery.assign"
ASSIGN_MODAL: Final = "recovery.assign_modal"
ASSIGN_USER_BLOCK: Final = "assignee"
ASSIGN_USER_ACTION: Final = "assignee_select"

FLAG_SHORTCUT: Final = "recovery.flag_message"
FLAG_MODAL: Final = "recovery.flag_modal"
NEW_MODAL: Final = "recovery.new_modal"

LABEL_CLAIM: Final = "Claim"
LABEL_ASSIGN: Final = "Assign"

OUTBOX_EVENT_TYPE: Final = "recovery_outbox"

RETRY_STUCK: Final = "recovery.retry_stuck"
GIVE_UP_STUCK: Final = "recovery.give_up_stuck"
LABEL_RETRY: Final = "Retry"
LABEL_GIVE_UP: Final = "Give up"


def incident_value(incident_id: int, seq: int | None = None) -> str:
    """Button values name the incident (and step) they were drawn for, so a forged or
    stale click can be checked against the database rather than trusted."""
    return f"{incident_id}" if seq is None else f"{incident_id}:{seq}"


DONE: Final = "recovery.done"
DONE_FORM: Final = "recovery.done_form"
SKIP: Final = "recovery.skip"
SNOOZE: Final = "recovery.snooze"
NEED_HELP: Final = "recovery.need_help"
AGREED: Final = "recovery.agreed"
NOT_YET: Final = "recovery.not_yet"
APPROVE: Final = "recovery.approve"
DECLINE: Final = "recovery.decline"
RECORD_FOLLOW_UP: Final = "recovery.record_follow_up"

FIX_MODAL: Final = "recovery.fix_modal"
REMEDY_MODAL: Final = "recovery.remedy_modal"
FOLLOW_UP_MODAL: Final = "recovery.follow_up_modal"
SKIP_MODAL: Final = "recovery.skip_modal"
DECLINE_MODAL: Final = "recovery.decline_modal"

LABEL_DONE: Final = "Done"
LABEL_SKIP: Final = "Skip"
LABEL_SNOOZE: Final = "Snooze"
LABEL_NEED_HELP: Final = "Need help"
LABEL_AGREED: Final = "Agreed"
LABEL_NOT_YET: Final = "Not yet"
LABEL_APPROVE: Final = "Approve"
LABEL_DECLINE: Final = "Decline"
LABEL_RECORD_FOLLOW_UP: Final = "Record follow-up"

SNOOZE_CHOICES: Final = (("1h", "1 hour"), ("4h", "4 hours"), ("tomorrow", "Until tomorrow"))

OPEN_CARD: Final = "recovery.open_card"
"""A link button to the incident's card; its url is filled in when the message is sent."""
OPEN_CARD_URL: Final = "https://slack.com/"
"""Stands in for the card's permalink until the sender knows it (and drops the button if Slack
will not give one): Block Kit wants a url in a link button."""
LEAD_ASSIGN: Final = "recovery.lead_assign"
LEAD_SNOOZE: Final = "recovery.lead_snooze"
LABEL_OPEN_CARD: Final = "Open card"
LABEL_LEAD_ASSIGN: Final = "Assign to…"
LABEL_SNOOZE_HOUR: Final = "Snooze 1 hour"
LEAD_ESCALATION_BLOCK: Final = "lead_escalation/"
"""The escalation's actions block, followed by its incident value: a user picker has no value of its own."""
LABEL_RECORD_FIX: Final = "Record fix"
LABEL_GIVE_REMEDY: Final = "Give remedy"
LABEL_ASK_A_LEAD: Final = "Ask a lead"
LABEL_RECORD_NO_REMEDY: Final = "Record no remedy"
CARD_MENU: Final = "recovery.card_menu"
ADD_DETAILS: Final = "recovery.add_details"
EDIT_DETAILS_MODAL: Final = "recovery.edit_details_modal"
CANCEL_MODAL: Final = "recovery.cancel_modal"
MENU_EDIT: Final = "edit"
MENU_CANCEL: Final = "cancel"

LABEL_EDIT_DETAILS: Final = "Edit details"
LABEL_CANCEL_INCIDENT: Final = "Cancel incident"
LABEL_ADD_DETAILS: Final = "Add details"
LABEL_SAVE_DETAILS: Final = "Save details"


def menu_value(incident_id: int, choice: str) -> str:
    """A card menu option: the incident as a button names it, then the choice (`42/edit`),
    as the Snooze menu's options do."""
    return f"{incident_value(incident_id)}/{choice}"

# A workspace's Settings: the App Home's button (leads and workspace admins) and its modal.
SETTINGS: Final = "recovery.settings"
SETTINGS_MODAL: Final = "recovery.settings_modal"
