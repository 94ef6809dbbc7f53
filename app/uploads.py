"""The server's private file folder: take uploads out of it and sweep what is left.

Gradio writes every upload to `<GRADIO_TEMP_DIR>/<content hash>/<file name>` and every image it
sends back (heatmap overlays) to the same folder. Uploads are medical data, so the analysis
handler reads an upload into memory and deletes it at once (`UploadStore.take`), and a periodic
sweep deletes rendered outputs and never-analysed uploads after a short time. Files that exist
when the app has been built (the example images Gradio copied there) are protected.

All deletions are meant to run on the event loop thread: Gradio's upload route creates the
hash folder and renames the file into it without yielding, so removing an empty folder from
the loop can never race with an upload that is about to use it.

Identical bytes uploaded twice (two people picking the same example image) land on ONE path.
So the store counts uploads per path (`UploadCounter`, an ASGI middleware around Gradio's
upload route, tells it which paths each upload returned) and `take` deletes a file only when
its last upload has been taken. An upload still in flight when a file's count reaches zero may
be about to return that very path, so the deletion waits for the uploads in flight at that
moment (and no others) to finish, then deletes unless one of them claimed the file.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: The path of Gradio's upload route (under the app's mount point and any root path).
UPLOAD_ROUTE_SUFFIX = "/gradio_api/upload"


class UploadMissingError(FileNotFoundError):
    """The upload is no longer on disk (already analysed once, or swept)."""


class UploadStore:
    """Reads and deletes uploads inside one root folder; never touches anything outside it."""

    def __init__(self, root: str | os.PathLike) -> None:
        """Create the store.

        Args:
            root: the folder Gradio uses for uploads and outputs (GRADIO_TEMP_DIR).
        """
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._protected: set[Path] = set()
        self._refs: dict[Path, int] = {}  # uploads returned per path and not yet taken
        self._in_flight: set[int] = set()  # upload requests not yet finished
        self._pending: list[tuple[Path, set[int]]] = []  # deletions waiting on those uploads
        self._ids = itertools.count()

    # -- upload accounting (event loop only) --------------------------------------------------

    def upload_started(self) -> int:
        """Register an upload request that has begun; returns its id for `upload_finished`."""
        upload_id = next(self._ids)
        self._in_flight.add(upload_id)
        return upload_id

    def upload_finished(self, upload_id: int, paths: Iterable[str | os.PathLike]) -> None:
        """Count the files an upload request returned, then run the deletions it held up."""
        for path in paths:
            resolved = Path(path).resolve()
            if resolved.is_relative_to(self.root):
                self._refs[resolved] = self._refs.get(resolved, 0) + 1
        self._in_flight.discard(upload_id)
        waiting = []
        for path, blockers in self._pending:
            blockers.discard(upload_id)
            if blockers:
                waiting.append((path, blockers))
            elif not self._refs.get(path):
                self._delete(path)
        self._pending = waiting

    def references(self, path: str | os.PathLike) -> int:
        """Uploads of this path not yet taken (0 for unknown paths)."""
        return self._refs.get(Path(path).resolve(), 0)

    def _release(self, resolved: Path) -> bool:
        """One upload of `resolved` is used up: delete the file unless another upload of the
        same bytes is still to be analysed (or may be arriving right now). True if deleted."""
        count = self._refs.get(resolved, 0) - 1
        if count > 0:
            self._refs[resolved] = count
            return False
        self._refs.pop(resolved, None)
        if self._in_flight:
            self._pending.append((resolved, set(self._in_flight)))
            return False
        return self._delete(resolved)

    def protect_existing(self) -> int:
        """Protect every file now under the root (example copies made while building the UI).

        Returns:
            The number of protected files.
        """
        self._protected = {p.resolve() for p in self.root.rglob("*") if p.is_file()}
        return len(self._protected)

    def is_protected(self, path: str | os.PathLike) -> bool:
        """True for files that must never be deleted (the examples)."""
        return Path(path).resolve() in self._protected

    def contains(self, path: str | os.PathLike) -> bool:
        """True if `path` lies inside the root folder."""
        return Path(path).resolve().is_relative_to(self.root)

    def take(self, path: str | os.PathLike) -> bytes:
        """Read an upload into memory and delete it (unless it is a protected example).

        Args:
            path: the file path Gradio handed to the event handler.

        Returns:
            The file's bytes.

        Raises:
            UploadMissingError: the file is gone (each upload can be analysed once).
            PermissionError: the path is outside the root folder (never read or deleted).
        """
        resolved = Path(path).resolve()
        if not resolved.is_relative_to(self.root):
            raise PermissionError("the image is not a file uploaded to this server")
        try:
            return resolved.read_bytes()
        except FileNotFoundError:
            raise UploadMissingError("the uploaded image is no longer on the server") from None
        finally:
            self.discard(resolved)

    def discard(self, path: str | os.PathLike) -> bool:
        """Give up one upload of an unprotected file inside the root: the file (and its folder,
        if now empty) is deleted once no other upload of the same bytes waits for analysis.

        Returns:
            True if the file was deleted now.
        """
        resolved = Path(path).resolve()
        if resolved in self._protected or not resolved.is_relative_to(self.root):
            return False
        return self._release(resolved)

    def _delete(self, resolved: Path) -> bool:
        try:
            resolved.unlink()
            deleted = True
        except FileNotFoundError:
            deleted = False
        self._remove_empty_dir(resolved.parent)
        return deleted

    def _remove_empty_dir(self, folder: Path) -> None:
        if folder == self.root or not folder.is_relative_to(self.root):
            return
        try:
            folder.rmdir()  # only succeeds when empty
        except OSError:
            pass

    def sweep(self, max_age_s: float) -> int:
        """Delete unprotected files older than `max_age_s`, then empty sub-folders.

        Args:
            max_age_s: age in seconds (by modification time); 0 deletes every unprotected file.

        Returns:
            The number of files deleted.
        """
        cutoff = time.time() - max_age_s
        deleted = 0
        for dirpath, _dirnames, filenames in os.walk(self.root, topdown=False):
            folder = Path(dirpath)
            for name in filenames:
                path = folder / name
                if path in self._protected:
                    continue
                try:
                    if path.lstat().st_mtime <= cutoff:
                        path.unlink()
                        self._refs.pop(path, None)
                        deleted += 1
                except FileNotFoundError:
                    continue
            self._remove_empty_dir(folder)
        if deleted:
            log.debug("swept %d temporary file(s)", deleted)
        return deleted


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class UploadCounter:
    """ASGI middleware: tells an `UploadStore` when each upload request starts and which paths
    it returned (the JSON list Gradio's upload route answers with). Other requests pass by."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], *,
                 store: UploadStore) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope.get("method") != "POST"
                or not scope.get("path", "").endswith(UPLOAD_ROUTE_SUFFIX)):
            await self.app(scope, receive, send)
            return
        upload_id = self.store.upload_started()
        status: list[int] = []
        body = bytearray()

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            elif message["type"] == "http.response.body":
                body.extend(message.get("body", b""))
            await send(message)

        paths: list[str] = []
        try:
            await self.app(scope, receive, watch)
            if status and status[0] == 200:
                paths = _returned_paths(bytes(body))
        finally:
            self.store.upload_finished(upload_id, paths)


def _returned_paths(body: bytes) -> list[str]:
    """The file paths in the upload route's JSON answer (nothing if it is not a path list)."""
    try:
        answer = json.loads(body)
    except ValueError:
        return []
    if not isinstance(answer, list):
        return []
    return [p for p in answer if isinstance(p, str)]
