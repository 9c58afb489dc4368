"""Media storage that closes what Wagtail leaves open.

Wagtail 8.0 writes each rendition into a SpooledTemporaryFile and never
closes it (wagtail/wagtail#14055, open). Its ResourceWarning surfaces at
garbage collection in whichever test runs then, failed by the suite's
`filterwarnings = error`."""

from __future__ import annotations

from io import BytesIO
from tempfile import SpooledTemporaryFile
from typing import Any

from django.core.files.storage import FileSystemStorage


class ClosingFileSystemStorage(FileSystemStorage):
    def _save(self, name: str, content: Any) -> str:
        stored = super()._save(name, content)
        spool = getattr(content, "file", None)
        if isinstance(spool, SpooledTemporaryFile):
            # Django reads the image's dimensions from `content` once it is
            # stored, so it keeps the bytes, in memory, that need no closing.
            spool.seek(0)
            content.file = BytesIO(spool.read())
            spool.close()
        return stored
