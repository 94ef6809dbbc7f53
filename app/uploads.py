"""The server's private file folder: take uploads out of it and sweep what is left.

Gradio writes every upload to `<GRADIO_TEMP_DIR>/<content hash>/<file name>` and every image it
sends back (heatmap overlays) to the same folder. Uploads are medical data, so the analysis
handler reads an upload into memory and deletes it at once (`UploadStore.take`), and a periodic
sweep deletes rendered outputs and never-analysed uploads after a short time. Files that exist
when the app has been built (the example images Gradio copied there) are protected.

All deletions are meant to run on the event loop thread: Gradio's upload route creates the
hash folder and renames the file into it without yielding, so removing an empty folder from
the loop can never race with an upload that is about to use it.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

log = logging.getLogger(__name__)


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
        """Delete one unprotected file inside the root, and its folder if that is now empty.

        Returns:
            True if a file was deleted.
        """
        resolved = Path(path).resolve()
        if resolved in self._protected or not resolved.is_relative_to(self.root):
            return False
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
                        deleted += 1
                except FileNotFoundError:
                    continue
            self._remove_empty_dir(folder)
        if deleted:
            log.debug("swept %d temporary file(s)", deleted)
        return deleted
