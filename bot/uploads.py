"""A file shared in a Slack conversation, through Slack's current upload flow.

``files.upload`` is retired; slack_sdk's ``files_upload_v2`` makes the three steps:
``files.getUploadURLExternal`` (an id and a one-time URL), a POST of the bytes to that URL,
and ``files.completeUploadExternal``, which shares the file in the channel with the comment.
Until the complete, nothing is visible to anyone: a file reserved and never completed is
discarded by Slack. So an upload that failed before the complete (any answer but ok to the
first call, the POST refused or unanswered) is simply done again from the start.

An uncertain complete (the call timed out, or Slack answered 5xx, after the file may have
been shared) is done again too: the reader may then find the file twice, which is better
than not at all, and nothing else about the upload can be looked up without a scope the bot
does not ask for (``files:read``). ``channel`` must be a conversation id (``C…``, ``G…``,
``D…``): Slack refuses a user id there (``invalid_arguments``), so a DM is opened first
(``conversations.open``) and its id passed.
"""
from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.errors import SlackRequestError

METHODS = ("files.getUploadURLExternal", "files.completeUploadExternal")
"""The Web API methods an upload calls, for pacing (bot/pacing.py)."""


class UploadFailed(Exception):
    """The bytes did not reach Slack's upload URL (it answered but not 200): nothing was shared."""


def upload(client: WebClient, *, content: bytes, filename: str, title: str, channel: str,
           initial_comment: str | None = None, alt_txt: str | None = None) -> str:
    """Share ``content`` as ``filename`` in ``channel``; the file's id. ``alt_txt``: an image's
    description for screen readers (at most 1,000 characters). Slack's refusals come as
    slack_sdk's SlackApiError, a network failure as OSError, the POST refused as UploadFailed."""
    try:
        answer = client.files_upload_v2(content=content, filename=filename, title=title, channel=channel,
                                        initial_comment=initial_comment, alt_txt=alt_txt)
    except SlackRequestError as error:
        raise UploadFailed(str(error)) from None
    return str(answer["file"]["id"])
