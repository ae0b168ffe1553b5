"""The two Slack app manifests, HTTP (manifest.yml) and Socket Mode (manifest-socket-mode.yml),
describe one app: the same command, shortcut, events and scopes, only the URLs and the switch
differ. A scope added to one and forgotten in the other fails here, not in a customer's install."""
from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
URL = "https://recovery.example.com/slack/events"


def _load(name: str) -> dict:
    return yaml.safe_load((ROOT / name).read_text())


def test_the_socket_mode_manifest_is_the_http_one_without_urls_and_with_socket_mode_on():
    http, socket = _load("manifest.yml"), _load("manifest-socket-mode.yml")
    assert http["settings"]["socket_mode_enabled"] is False and socket["settings"]["socket_mode_enabled"] is True
    assert http["settings"]["event_subscriptions"].pop("request_url") == URL
    assert http["settings"]["interactivity"].pop("request_url") == URL
    assert [command.pop("url") for command in http["features"]["slash_commands"]] == [URL]
    http["settings"]["socket_mode_enabled"] = True
    assert socket == http


def test_the_app_subscribes_to_what_the_bot_listens_for():
    manifest = _load("manifest-socket-mode.yml")
    assert manifest["settings"]["event_subscriptions"]["bot_events"] == [
        "reaction_added", "member_joined_channel", "app_home_opened", "app_uninstalled", "tokens_revoked"]
    assert manifest["features"]["app_home"] == {"home_tab_enabled": True, "messages_tab_enabled": True}
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == ["/recovery"]
    assert [s["callback_id"] for s in manifest["features"]["shortcuts"]] == ["recovery.flag_message"]
