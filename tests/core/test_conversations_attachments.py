"""Attachments are listed without being decoded, saved only when asked, under a safe name, and
never when they are oversized or an archive that would expand enormously."""

from __future__ import annotations

from pathlib import Path

import pytest

from postdesk.core.conversations import get_thread, list_threads, parse, save_attachment
from postdesk.core.errors import UserError

pytestmark = pytest.mark.parametrize("conversations_store", ["sqlite"], indirect=True)


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "downloads"
    folder.mkdir()
    return folder


def _message(store):
    [summary] = list_threads(store, "example.com")
    [message] = get_thread(store, summary.id).messages
    return message


def test_names_with_folders_are_saved_inside_the_chosen_folder(
    conversations_store, file_sample, tmp_path: Path
) -> None:
    message_id = file_sample("attachments.eml")
    listed = _message(conversations_store).attachments
    assert [a.filename for a in listed] == [
        "bashrc",
        "invoice-4471.pdf",
        "résumé novembre.csv",
    ]
    folder = tmp_path / "downloads"
    folder.mkdir()
    saved = [save_attachment(conversations_store, message_id, i, folder) for i in range(3)]
    assert [p.parent for p in saved] == [folder] * 3
    assert sorted(p.name for p in folder.iterdir()) == sorted(a.filename for a in listed)
    assert not (tmp_path / ".bashrc").exists() and not (tmp_path.parent / ".bashrc").exists()
    assert (folder / "invoice-4471.pdf").read_bytes().startswith(b"%PDF-1.4")
    assert (folder / "résumé novembre.csv").read_text(encoding="utf-8").startswith("Rechnung")
    # saving again never replaces the first copy
    again = save_attachment(conversations_store, message_id, 1, folder)
    assert again.name == "invoice-4471 (1).pdf"


def test_a_chosen_file_name_is_used_as_given(
    conversations_store, file_sample, tmp_path: Path
) -> None:
    message_id = file_sample("attachments.eml")
    target = tmp_path / "mine.pdf"
    assert save_attachment(conversations_store, message_id, 1, target) == target
    assert target.read_bytes().startswith(b"%PDF")


def test_a_zip_bomb_is_refused_and_nothing_is_written(
    conversations_store, file_sample, tmp_path: Path
) -> None:
    folder = _folder(tmp_path)
    message_id = file_sample("zip-bomb.eml")
    [listed] = _message(conversations_store).attachments
    assert listed.filename == "documents.zip" and listed.size < 200_000
    with pytest.raises(UserError) as caught:
        save_attachment(conversations_store, message_id, 0, folder)
    assert caught.value.code == "conversations.attachment_bomb"
    assert "documents.zip" in caught.value.message
    assert list(folder.iterdir()) == []


def test_a_declared_giant_is_refused(conversations_store, file_sample, tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    message_id = file_sample("huge-attachment.eml")
    with pytest.raises(UserError) as caught:
        save_attachment(conversations_store, message_id, 0, folder)
    assert caught.value.code == "conversations.attachment_too_large"
    assert "20,480.0 MB" in caught.value.message
    assert list(folder.iterdir()) == []


def test_an_attachment_above_the_limit_is_refused_before_decoding(
    conversations_store, file_sample, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    message_id = file_sample("attachments.eml")
    monkeypatch.setattr(parse, "MAX_ATTACHMENT_BYTES", 16)  # the PDF is 33 bytes
    decoded: list[object] = []
    real = parse.EmailMessage.get_payload

    def watch(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if kwargs.get("decode"):
            decoded.append(self.get_filename())
        return real(self, *args, **kwargs)

    monkeypatch.setattr(parse.EmailMessage, "get_payload", watch)
    with pytest.raises(UserError) as caught:
        save_attachment(conversations_store, message_id, 1, tmp_path)
    assert caught.value.code == "conversations.attachment_too_large"
    assert decoded.count("..\\..\\Windows\\invoice-4471.pdf") == 0


def test_a_missing_attachment_number_is_a_clear_error(
    conversations_store, file_sample, tmp_path: Path
) -> None:
    message_id = file_sample("hello.eml")
    with pytest.raises(UserError) as caught:
        save_attachment(conversations_store, message_id, 0, tmp_path)
    assert caught.value.code == "conversations.no_attachment"
