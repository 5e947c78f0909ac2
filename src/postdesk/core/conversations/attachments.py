"""Attachments handed out on request only: size-capped, archive bombs refused, names made safe.

Listing never decodes a part. Saving decodes exactly one part, and only when its size (declared
or worked out from its encoded form) is within ``parse.MAX_ATTACHMENT_BYTES``. A compressed
archive (zip, gzip) whose contents would expand beyond ``MAX_EXPANDED_BYTES`` — a "zip bomb"
— is refused as well: the user would unpack it next. It is checked from the archive's own
directory and by inflating with a ceiling, never by unpacking it whole.
"""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
import zlib
from email.message import EmailMessage
from pathlib import Path

from postdesk.core.conversations import parse
from postdesk.core.conversations.parse import AttachmentInfo
from postdesk.core.errors import UserError

MAX_EXPANDED_BYTES = 1024 * 1024 * 1024
MAX_RATIO = 200  # deflate reaches ~1000:1 only on bombs and blank data
RATIO_FLOOR = 10 * 1024 * 1024  # below this, a high ratio is harmless (a zipped empty file)
MAX_NESTING = 3
_ZIP_TYPES = {"application/zip", "application/x-zip-compressed", "application/x-zip"}
_GZIP_TYPES = {"application/gzip", "application/x-gzip"}
GZIP = b"\x1f\x8b"


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):,.1f} MB"


def _too_large(name: str, size: int) -> UserError:
    return UserError(
        "conversations.attachment_too_large",
        f"The attachment {name} is {_mb(size)}, more than Postdesk hands out "
        f"({_mb(parse.MAX_ATTACHMENT_BYTES)}).",
        "Ask the sender to share it another way; the message itself is kept.",
    )


def _bomb(name: str, size: int) -> UserError:
    return UserError(
        "conversations.attachment_bomb",
        f"The attachment {name} is an archive that would expand to more than {_mb(size)} "
        "(a decompression bomb); Postdesk does not save it.",
        "Do not ask the sender for it again unless you know them; the message itself is kept.",
    )


def _declared_size(part: EmailMessage) -> int:
    value = part.get_param("size", header="content-disposition")
    try:
        return int(str(value)) if value is not None else 0
    except ValueError:
        return 0


def _zip_expansion(data: bytes, depth: int = 0) -> int:
    """What a zip would unpack to (nested archives included), read from its directory."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError):
        return len(data)
    total = 0
    with archive:
        for info in archive.infolist():
            total += info.file_size
            if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(
                info.compress_size, 1
            ):
                return MAX_EXPANDED_BYTES + 1
            if total > MAX_EXPANDED_BYTES:
                return total
            nested = depth < MAX_NESTING and info.filename.lower().endswith(".zip")
            if nested and info.file_size <= parse.MAX_ATTACHMENT_BYTES:
                try:
                    inner = archive.read(info)
                except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError):
                    continue
                total += _zip_expansion(inner, depth + 1)
    return total


def _gzip_expansion(data: bytes) -> int:
    """What a gzip stream inflates to, counted with a ceiling (stops just past the limit)."""
    inflater = zlib.decompressobj(wbits=47)
    total = 0
    chunk_in = 64 * 1024
    try:
        for start in range(0, len(data), chunk_in):
            pending = data[start : start + chunk_in]
            while pending:
                out = inflater.decompress(pending, 1024 * 1024)
                total += len(out)
                if total > MAX_EXPANDED_BYTES:
                    return total
                pending = inflater.unconsumed_tail
    except zlib.error:
        return len(data)
    return total


def _check_archive(info: AttachmentInfo, data: bytes) -> None:
    name = info.filename.lower()
    if info.content_type in _ZIP_TYPES or name.endswith(".zip") or data[:4] == b"PK\x03\x04":
        expanded = _zip_expansion(data)
    elif (
        info.content_type in _GZIP_TYPES
        or name.endswith((".gz", ".tgz"))
        or data[:2] == b"\x1f\x8b"
    ):
        expanded = _gzip_expansion(data)
    else:
        return
    if expanded > MAX_EXPANDED_BYTES:
        raise _bomb(info.filename, MAX_EXPANDED_BYTES)


def attachment_data(raw: bytes, index: int) -> tuple[AttachmentInfo, bytes]:
    """The attachment at ``index`` of a message and its decoded bytes, after every check."""
    message = parse.parse_message(raw)
    parts = parse.attachment_parts(parse.message_object(raw))
    if not 0 <= index < len(parts) or index >= len(message.attachments):
        raise UserError(
            "conversations.no_attachment",
            f"The message has no attachment number {index + 1}.",
            "List the message's attachments first; they are numbered from 1.",
        )
    info, part = message.attachments[index], parts[index]
    size = max(info.size, _declared_size(part))
    if size > parse.MAX_ATTACHMENT_BYTES:
        raise _too_large(info.filename, size)
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    if len(data) > parse.MAX_ATTACHMENT_BYTES:
        raise _too_large(info.filename, len(data))
    _check_archive(info, data)
    return info, data


def _free_name(folder: Path, name: str) -> Path:
    candidate = folder / name
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    number = 1
    while candidate.exists():
        candidate = folder / (f"{stem} ({number}).{ext}" if ext else f"{stem} ({number})")
        number += 1
    return candidate


def write_attachment(info: AttachmentInfo, data: bytes, path: Path) -> Path:
    """Write ``data`` to ``path``, or into ``path`` under the safe name when it is a folder.

    Written to a temporary file beside the target and renamed, so a failure leaves nothing
    half-written; into a folder, an existing file is never replaced (a free name is chosen).
    """
    target = _free_name(path, info.filename) if path.is_dir() else path
    folder = target.parent
    if not folder.is_dir():
        raise UserError(
            "conversations.save_folder",
            f"The folder {folder} does not exist.",
            "Choose an existing folder to save the attachment in.",
        )
    try:
        handle, temporary = tempfile.mkstemp(prefix=".postdesk-", dir=folder)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise UserError(
            "conversations.save_failed",
            f"Postdesk could not save the attachment to {target}: {exc.strerror or exc}.",
            "Choose a folder you can write to, with enough free space.",
        ) from None
    return target
