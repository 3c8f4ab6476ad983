"""An uploaded model lives in its session's temporary folder and goes with the session."""

import gc

import pytest

from dashboard import state


@pytest.fixture
def unloaded(monkeypatch):
    forgotten = []
    monkeypatch.setattr(state, "unload", lambda spec: forgotten.append(spec))
    return forgotten


def _uploads_with_a_file():
    uploads = state._Uploads()
    (uploads.folder / "model.keras").write_bytes(b"weights")
    uploads.specs["pets (abc123)"] = "the spec"
    assert uploads.folder.is_dir() and str(uploads.folder).startswith(state.tempfile.gettempdir())
    return uploads


def test_releasing_a_sessions_uploads_deletes_the_folder_and_unloads_the_models(unloaded):
    uploads = _uploads_with_a_file()
    uploads.discard()  # what the session-scoped cache's on_release does when the session disconnects
    assert not uploads.folder.exists() and unloaded == ["the spec"] and uploads.specs == {}
    uploads.discard()  # a second release (or the finalizer later) does nothing more
    assert unloaded == ["the spec"]


def test_uploads_dropped_without_a_release_are_cleaned_up_too(unloaded):
    uploads = _uploads_with_a_file()
    folder = uploads.folder
    del uploads
    gc.collect()
    assert not folder.exists() and unloaded == ["the spec"]
