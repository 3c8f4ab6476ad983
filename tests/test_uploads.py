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


@pytest.fixture
def unfrozen_after():
    yield
    gc.unfreeze()  # the rest of the suite runs with the collector as it found it


def test_a_model_frozen_with_the_shared_ones_is_still_collected_when_its_session_ends(monkeypatch, unfrozen_after):
    import weakref

    class Model:  # a Keras model sits in reference cycles (its layers point back to it): only the collector frees it
        pass

    monkeypatch.setattr(state, "unload", lambda spec: None)
    model = Model()
    model.itself = model
    alive = weakref.ref(model)
    uploads = _uploads_with_a_file()
    uploads.specs["pets (abc123)"] = model
    state._freeze_long_lived()  # the shared models finished loading while this session's upload was in use
    del model
    gc.collect()
    assert alive() is not None  # frozen: out of the collector's reach
    uploads.discard()
    assert alive() is None and gc.get_freeze_count() > 0  # collected, and the shared objects frozen again
