"""Files as Slack's upload flow makes them: reserve an id and URL, POST the bytes, then complete.

files.upload is retired (NEXT-WAVE.md §6.2); slack_sdk's ``files_upload_v2`` makes these three
calls, so the double serves the upload URL itself and tests see the exact bytes sent.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import count as counter

from bot.devkit.slack_protocol import ApiError, JsonDict

ALT_TXT_LIMIT = 1000
"""Slack's limit on an image's description: longer is ``alt_txt_too_large``."""


@dataclass(frozen=True, slots=True)
class StoredFile:
    id: str
    name: str
    title: str
    length: int
    data: bytes | None = None
    channel: str | None = None
    initial_comment: str | None = None
    thread_ts: str | None = None
    alt_txt: str | None = None

    def as_api(self) -> JsonDict:
        return {"id": self.id, "name": self.name, "title": self.title, "size": len(self.data or b""),
                "channels": [self.channel] if self.channel else []}


class FileStore:
    def __init__(self) -> None:
        self._files: dict[str, StoredFile] = {}
        self._ids = counter(1)

    def clear(self) -> None:
        self._files.clear()

    def reserve(self, params: JsonDict) -> StoredFile:
        """files.getUploadURLExternal: Slack refuses a missing name or length, and an image
        description (alt_txt) over ALT_TXT_LIMIT characters."""
        name, length = str(params.get("filename") or ""), str(params.get("length") or "")
        if not name or not length.isdigit():
            raise ApiError("invalid_arguments")
        alt_txt = params.get("alt_txt")
        if alt_txt is not None and len(str(alt_txt)) > ALT_TXT_LIMIT:
            raise ApiError("alt_txt_too_large")
        stored = StoredFile(id=f"F{next(self._ids):08d}", name=name, title=name, length=int(length),
                            alt_txt=str(alt_txt) if alt_txt is not None else None)
        self._files[stored.id] = stored
        return stored

    def upload(self, file_id: str, data: bytes) -> None:
        stored = self._files.get(file_id)
        if stored is None:
            raise ApiError("file_not_found")
        self._files[file_id] = replace(stored, data=data)

    def complete(self, params: JsonDict, *, channel: str | None) -> list[StoredFile]:
        """files.completeUploadExternal: every file must have been reserved and its bytes sent."""
        wanted = params.get("files")
        if not isinstance(wanted, list) or not wanted:
            raise ApiError("invalid_arguments")
        done: list[StoredFile] = []
        for item in wanted:
            stored = self._files.get(str(item.get("id", "")))
            if stored is None or stored.data is None:
                raise ApiError("file_not_found")
            done.append(replace(stored, title=item.get("title") or stored.name, channel=channel,
                                initial_comment=params.get("initial_comment") or None,
                                thread_ts=params.get("thread_ts") or None))
        for stored in done:
            self._files[stored.id] = stored
        return done

    def all(self) -> list[StoredFile]:
        return list(self._files.values())
