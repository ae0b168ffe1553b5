"""The Web API methods of the Slack double, over the state Slack would hold for the app.

Apart from the HTTP server (slack_double.py) so that each file has one job: here, what each
method answers and refuses; there, how requests arrive, fail and get recorded. Every method
runs under the double's lock and returns the body without ``ok``, or raises ApiError.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import count as counter
from typing import Any

from bot.devkit.slack_files import FileStore
from bot.devkit.slack_history import Message, MessageStore, Page, Window, history_page, replies_page
from bot.devkit.slack_protocol import ApiError, JsonDict, channel_param, dm_channel, truthy
from bot.devkit.slack_views import check_home, check_view, kept_state
from bot.devkit.slack_workspaces import Directory, Workspace

_PERMALINK_BASE = "https://fake.slack.test/archives"
# (default, maximum) page sizes: docs.slack.dev conversations.history says 100 and 999; for
# conversations.replies the libraries' 1000 (not confirmed on Slack's page).
_HISTORY_LIMIT = (100, 999)
_REPLIES_LIMIT = (1000, 1000)
_UNLISTED_APP_LIMIT = (15, 15)
# A response_url "can be used up to 5 times within 30 minutes" (Slack's interactivity docs;
# /work/shared/slack/FACTS.md §5). The error codes are our inference: Slack's pages name none.
RESPONSE_URL_USES = 5
RESPONSE_URL_LIFETIME = 30 * 60
# No bot token: a response_url and an upload URL are their own credential; oauth.v2.access
# authenticates the app with its client id and secret.
NO_TOKEN = frozenset({"response_url", "file_upload", "oauth.v2.access"})
# What files.completeUploadExternal takes as a channel: a conversation's id, never a user's.
_CONVERSATION_ID = re.compile(r"[CGDZ][A-Z0-9]+")

Handler = Callable[[JsonDict, Workspace], JsonDict]
# A method authenticated by an app-level token (xapp-), not a workspace's: it gets the token.
AppHandler = Callable[[str], JsonDict]


@dataclass(slots=True)
class Strictness:
    """Which of Slack's refusals are on (see slack_double's docstring); all off is today's lenient double."""

    channels: bool = False
    tokens: bool = False
    rate_limits: bool = False
    unlisted_app: bool = False
    home_tab_off: bool = False


class WebApi:
    """Messages, views, reactions, files and workspaces, and the methods that read and change them."""

    def __init__(
        self, *, team_id: str, bot_user_id: str, strictness: Strictness, clock: Callable[[], float],
        base_url: Callable[[], str], message_clock: Callable[[], float],
    ) -> None:
        self.strictness = strictness
        self._clock = clock
        self._message_clock = message_clock
        self._last_micros = 0
        self._base_url = base_url
        self.store = MessageStore()
        self.ephemerals: list[Message] = []
        self.views: dict[str, JsonDict] = {}
        self.homes: dict[str, JsonDict] = {}
        self.reactions: dict[tuple[str, str], dict[str, list[str]]] = defaultdict(dict)
        self.files = FileStore()
        self.directory = Directory(team_id=team_id, bot_user_id=bot_user_id)
        self._view_ids = counter(1)
        # Response URL id -> (who asked, in which channel, issued at on the message clock, uses).
        self._response_urls: dict[str, tuple[str, str, float, int]] = {}
        self._view_hashes = counter(1)
        self._handlers: dict[str, Handler] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "conversations.info": self._conversations_info,
            "conversations.open": self._conversations_open,
            "views.open": self._views_open,
            "views.push": self._views_open,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "users.info": self._users_info,
            "reactions.add": self._reactions_add,
            "reactions.remove": self._reactions_remove,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "file_upload": self._file_upload,
            "files.completeUploadExternal": self._files_complete_upload,
            "usergroups.users.list": self._usergroups_users_list,
            "response_url": self._respond,
        }
        # Attached by the Socket Mode double (apps.connections.open) while it runs.
        self.app_handlers: dict[str, AppHandler] = {}

    @property
    def methods(self) -> frozenset[str]:
        """Every method this double answers (what "fail every call" covers)."""
        return (frozenset(self._handlers) | frozenset(self.app_handlers)) - NO_TOKEN

    def clear(self) -> None:
        """Forget what Slack holds; registered workspaces, channels and groups stay (the test's setup)."""
        self.store.clear()
        self.ephemerals.clear()
        self.views.clear()
        self.homes.clear()
        self.reactions.clear()
        self.files.clear()

    def answer(self, method: str, params: JsonDict, *, token: str | None) -> JsonDict:
        """The body of a call: ``ok`` and its fields, or ``ok: false`` and Slack's error code."""
        if method == "oauth.v2.access":
            try:
                return {"ok": True, **self.directory.exchange(params, now=self._clock(), credentials=token)}
            except ApiError as e:
                return {"ok": False, "error": str(e)}
        handler = self._handlers.get(method)
        app_handler = self.app_handlers.get(method)
        if handler is None and app_handler is None:
            return {"ok": False, "error": "unknown_method"}
        if not token and method not in NO_TOKEN:
            return {"ok": False, "error": "not_authed"}
        try:
            if app_handler is not None:
                return {"ok": True, **app_handler(token or "")}
            workspace = (self.directory.default if method in NO_TOKEN else
                         self.directory.workspace_for(token, strict=self.strictness.tokens, now=self._clock()))
            return {"ok": True, **handler(params, workspace)}
        except ApiError as e:
            return {"ok": False, "error": str(e)}


    def next_ts(self) -> str:
        """Increasing ts, so that posting order is ts order (the message index relies on it).

        They follow ``message_clock`` (Unix seconds) as Slack's follow its wall clock, never
        going back."""
        micros = max(self._last_micros + 100, int(self._message_clock() * 1_000_000))
        self._last_micros = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _as_api(self, message: Message, *, with_metadata: bool) -> JsonDict:
        out: JsonDict = {"type": "message", "user": message.user, "text": message.text, "ts": message.ts}
        bot_id = self.directory.bot_ids.get(message.user)
        if bot_id:
            out["bot_id"] = bot_id
        if message.thread_ts:
            out["thread_ts"] = message.thread_ts
        if message.broadcast:
            out["subtype"] = "thread_broadcast"
        replies = self.store.reply_count(message.channel, message.ts)
        if replies:
            out["thread_ts"] = message.ts
            out["reply_count"] = replies
        if message.blocks:
            out["blocks"] = message.blocks
        if message.files:
            out["files"] = [{"id": file_id} for file_id in message.files]
        reactions = self.reactions.get((message.channel, message.ts))
        if reactions:
            out["reactions"] = [{"name": n, "users": u, "count": len(u)} for n, u in reactions.items()]
        if with_metadata and message.metadata:
            out["metadata"] = message.metadata
        return out

    def _render(self, page: Page, params: JsonDict) -> JsonDict:
        with_metadata = truthy(params.get("include_all_metadata"))
        return page.answer([self._as_api(m, with_metadata=with_metadata) for m in page.messages])

    def _check(self, channel: str, workspace: Workspace, *, writing: bool) -> None:
        self.directory.check_channel(channel, workspace, strict=self.strictness.channels, writing=writing)

    def _known(self, channel: str, ts: str, error: str = "message_not_found") -> Message | None:
        """The stored message; in strict mode a ts the double does not hold is refused."""
        message = self.store.get(channel, ts)
        if message is None and self.strictness.channels:
            raise ApiError(error)
        return message

    def _compose(self, channel: str, params: JsonDict, workspace: Workspace, **extra: Any) -> Message:
        """A new message from the bot, from the text, blocks and thread of a chat.* call."""
        thread_ts = params.get("thread_ts") or None
        return Message(channel=channel, ts=self.next_ts(), text=params.get("text") or "", thread_ts=thread_ts,
                       blocks=params.get("blocks") or [], user=workspace.bot_user_id,
                       broadcast=bool(thread_ts) and truthy(params.get("reply_broadcast")), **extra)

    def _auth_test(self, params: JsonDict, workspace: Workspace) -> JsonDict:
        return {
            "url": "https://fake.slack.test/",
            "team": workspace.name,
            "user": "recovery-bot",
            "team_id": workspace.team_id,
            "user_id": workspace.bot_user_id,
            "bot_id": workspace.bot_id,
        }

    def _chat_post_message(self, params: JsonDict, workspace: Workspace) -> JsonDict:
        channel = channel_param(params)
        self._check(channel, workspace, writing=True)
        if not params.get("text") and not params.get("blocks"):
            raise ApiError("no_text")
        message = self._compose(channel, params, workspace, metadata=params.get("metadata") or None)
        self.store.add(message)
        return {"channel": channel, "ts": message.ts, "message": self._as_api(message, with_metadata=True)}

    def _chat_update(self, params: JsonDict, workspace: Workspace) -> JsonDict:
        """Replace only the fields given, as Slack does: an absent field keeps its old value."""
        channel = channel_param(params)
        self._check(channel, workspace, writing=True)
        old = self.store.get(channel, str(params.get("ts", "")))
        if old is None:
            raise ApiError("message_not_found")
        new = replace(
            old,
            text=params["text"] if "text" in params else old.text,
            blocks=params["blocks"] if "blocks" in params else old.blocks,
            metadata=(params["metadata"] or None) if "metadata" in params else old.metadata,
        )
        self.store.replace(new)
        return {
            "channel": channel,
            "ts": new.ts,
            "text": new.text,
            "message": self._as_api(new, with_metadata=True),
        }

    def _chat_post_ephemeral(self, params: JsonDict, workspace: Workspace) -> JsonDict:
        channel = channel_param(params)
        self._check(channel, workspace, writing=True)
        user = str(params.get("user") or "")
        self.directory.check_member(channel, user, strict=self.strictness.channels)
        message = self._compose(channel, params, workspace, visible_to=user or None)
        self.ephemerals.append(message)
        return {"message_ts": message.ts}

    def _chat_get_permalink(self, params: JsonDict, workspace: Workspace) -> JsonDict:
        """Lenient: any ts, since the flagged message may be a person's that the double never saw;
        strict channels: only a message the double holds."""
        channel = channel_param(params)
        self._check(channel, workspace, writing=False)
        ts = str(params.get("message_ts", ""))
        self._known(channel, ts)
        return {"channel": channel, "permalink": f"{_PERMALINK_BASE}/{channel}/p{ts.replace('.', '')}"}

    def _page_limits(self, regular: tuple[int, int]) -> dict[str, int]:
        default, maximum = _UNLISTED_APP_LIMIT if self.strictness.unlisted_app else regular
        return {"default_limit": default, "max_limit": maximum}

    def _conversations_history(self, params: JsonDict, workspace: Workspace) -> JsonDict:
        channel = channel_param(params)
        self._check(channel, workspace, writing=False)
        window = Window.read(params, **self._page_limits(_HISTORY_LIMIT))
        return self._render(history_page(self.store, channel, window), params)

    def _conversations_replies(self, params: JsonDict, workspace: Workspace) -> JsonDict:
        """The whole thread of ``ts``, even when ``ts`` is a reply: parent first, then replies."""
        channel = channel_param(params)
        self._check(channel, workspace, writing=False)
        ts = str(params.get("ts") or "")
        if not ts:
            raise ApiError("thread_not_found")
        window = Window.read(params, **self._page_limits(_REPLIES_LIMIT))
        page = replies_page(self.store, channel, ts, window)
        if page is None:
            self._known(channel, ts, "thread_not_found")
            page = Page([], None)
        return self._render(page, params)

    def _conversations_info(self, params: JsonDict, workspace: Workspace) -> JsonDict:
        channel = channel_param(params)
        return {"channel": self.directory.channel_info(channel, workspace, strict=self.strictness.channels)}

    def _conversations_open(self, params: JsonDict, workspace: Workspace) -> JsonDict:
        first = str(params.get("users") or "").split(",")[0]
        if not first:
            raise ApiError("user_not_found")
        return {"channel": {"id": dm_channel(first)}}

    def _view_hash(self) -> str:
        """A new hash on every change of a view, as Slack's: a later change must quote it."""
        return f"{int(self._clock())}.{next(self._view_hashes):08d}"

    def _views_open(self, params: JsonDict, workspace: Workspace) -> JsonDict:
        view = {**check_view(params.get("view")), "id": f"V{next(self._view_ids)}", "team_id": workspace.team_id,
                "hash": self._view_hash(), "state": {"values": {}}}
        self.views[view["id"]] = view
        return {"view": view}

    def _views_update(self, params: JsonDict, workspace: Workspace) -> JsonDict:
        """A ``hash`` that is not the view's current one is stale: ``hash_conflict``, nothing changes.
        What the person typed stays in the inputs the new view still has (slack_views)."""
        view_id = params.get("view_id")
        if not view_id:
            external_id = params.get("external_id")
            view_id = next((i for i, v in self.views.items() if v.get("external_id") == external_id), None)
        if view_id not in self.views:
            raise ApiError("not_found")
        new = check_view(params.get("view"))
        current = self.views[view_id]
        if params.get("hash") and params["hash"] != current["hash"]:
            raise ApiError("hash_conflict")
        view = {**new, "id": view_id, "team_id": workspace.team_id, "hash": self._view_hash(),
                "state": kept_state(current, new)}
        self.views[view_id] = view
        return {"view": view}

    def _views_publish(self, params: JsonDict, workspace: Workspace) -> JsonDict:
        """A Home tab per user. A ``hash`` that is not the current view's is stale: ``hash_conflict``.

        As strict as Slack: a view that is not a ``home``, or has over 100 blocks, is
        ``invalid_arguments``; one over 250 kB of JSON is ``view_too_large``; with the app's Home
        tab off (``strict(home_tab_off=True)``), ``not_enabled``."""
        user = str(params.get("user_id") or "")
        if not user or not isinstance(params.get("view"), dict):
            raise ApiError("invalid_arguments")
        if self.strictness.home_tab_off:
            raise ApiError("not_enabled")
        check_home(params["view"])
        current = self.homes.get(user)
        if params.get("hash") and (current is None or current["hash"] != params["hash"]):
            raise ApiError("hash_conflict")
        serial = next(self._view_ids)
        view = {**params["view"], "id": current["id"] if current else f"V{serial}", "team_id": workspace.team_id,
                "hash": f"1700000000.{serial:08d}"}
        self.homes[user] = view
        return {"view": view}

    def _users_info(self, params: JsonDict, workspace: Workspace) -> JsonDict:
        """Only people added to the double (``add_user``) and the bot itself exist."""
        user = str(params.get("user") or "")
        if not user:
            raise ApiError("user_not_found")
        display_name, real_name = self.directory.user(user, workspace)
        role = self.directory.role(user)
        return {
            "user": {
                "id": user,
                "team_id": workspace.team_id,
                "name": user.lower(),
                "real_name": real_name,
                "tz": "UTC",
                "tz_offset": 0,
                "is_bot": user == workspace.bot_user_id,
                "is_admin": role in ("admin", "owner"),  # Slack: an owner is an admin too
                "is_owner": role == "owner",
                "profile": {"real_name": real_name, "display_name": display_name},
            }
        }

    def issue_response_url(self, url_id: str, *, user: str, channel: str) -> None:
        """A command's or a click's response_url, as Slack hands one out with the request."""
        self._response_urls[url_id] = (user, channel, self._message_clock(), 0)

    def _respond(self, params: JsonDict, _workspace: Workspace) -> JsonDict:
        """A message through a response_url: ephemeral to the person who asked (unless
        ``response_type`` is ``in_channel``), at most `RESPONSE_URL_USES` times, within
        `RESPONSE_URL_LIFETIME` seconds of the request; a URL never handed out is refused."""
        url_id = str(params.get("url_id") or "")
        if url_id not in self._response_urls:
            raise ApiError("invalid_url")
        user, channel, issued, uses = self._response_urls[url_id]
        if self._message_clock() - issued > RESPONSE_URL_LIFETIME:
            raise ApiError("expired_url")
        if uses >= RESPONSE_URL_USES:
            raise ApiError("used_url")
        self._response_urls[url_id] = (user, channel, issued, uses + 1)
        visible_to = None if params.get("response_type") == "in_channel" else user
        message = Message(channel=channel, ts=self.next_ts(), text=str(params.get("text") or ""),
                          blocks=list(params.get("blocks") or []), visible_to=visible_to)
        if visible_to is None:
            self.store.add(message)
        else:
            self.ephemerals.append(message)
        return {}

    def _reaction_target(self, params: JsonDict, workspace: Workspace) -> tuple[dict[str, list[str]], str]:
        channel = channel_param(params)
        self._check(channel, workspace, writing=True)
        ts, name = str(params.get("timestamp") or ""), str(params.get("name") or "")
        if not ts:
            raise ApiError("no_item_specified")
        if not name:
            raise ApiError("invalid_name")
        self._known(channel, ts)
        return self.reactions[(channel, ts)], name

    def _reactions_add(self, params: JsonDict, workspace: Workspace) -> JsonDict:
        reactions, name = self._reaction_target(params, workspace)
        users = reactions.setdefault(name, [])
        if workspace.bot_user_id in users:
            raise ApiError("already_reacted")
        users.append(workspace.bot_user_id)
        return {}

    def _reactions_remove(self, params: JsonDict, workspace: Workspace) -> JsonDict:
        reactions, name = self._reaction_target(params, workspace)
        users = reactions.get(name, [])
        if workspace.bot_user_id not in users:
            raise ApiError("no_reaction")
        users.remove(workspace.bot_user_id)
        if not users:
            del reactions[name]
        return {}

    def _files_get_upload_url(self, params: JsonDict, workspace: Workspace) -> JsonDict:
        stored = self.files.reserve(params)
        return {"upload_url": f"{self._base_url()}/upload/{stored.id}", "file_id": stored.id}

    def _file_upload(self, params: JsonDict, workspace: Workspace) -> JsonDict:
        self.files.upload(str(params["file_id"]), params["data"])
        return {}

    def _files_complete_upload(self, params: JsonDict, workspace: Workspace) -> JsonDict:
        """Share the files in ``channel_id`` (or the first of ``channels``) as one message, as Slack shows it.

        Slack takes only conversation ids there (its schema: ``^[CGDZ][A-Z0-9]{8,}$``; the double's
        ids are shorter, so only the first letter is checked): a user id, unlike chat.postMessage's
        channel, is ``invalid_arguments``; the DM's own id comes from conversations.open."""
        targets = [item.strip() for item in str(params.get("channel_id") or params.get("channels") or "").split(",")
                   if item.strip()]
        if any(not _CONVERSATION_ID.fullmatch(target) for target in targets):
            raise ApiError("invalid_arguments")
        channel = targets[0] if targets else None
        if channel is not None:
            self._check(channel, workspace, writing=True)
        done = self.files.complete(params, channel=channel)
        if channel is not None:
            self.store.add(Message(
                channel=channel, ts=self.next_ts(), text=params.get("initial_comment") or "",
                thread_ts=params.get("thread_ts") or None, user=workspace.bot_user_id,
                files=tuple(f.id for f in done),
            ))
        return {"files": [f.as_api() for f in done]}

    def _usergroups_users_list(self, params: JsonDict, workspace: Workspace) -> JsonDict:
        return {"users": self.directory.usergroup_users(str(params.get("usergroup") or ""), workspace)}
