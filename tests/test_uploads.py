"""An uploaded model lives in its session's temporary folder and goes with the session."""

import gc

from dashboard import state


def test_a_sessions_upload_folder_and_models_go_when_its_state_is_dropped(tmp_path, monkeypatch):
    forgotten = []
    monkeypatch.setattr(state, "unload", lambda spec: forgotten.append(spec))
    uploads = state._Uploads()
    folder = uploads.folder
    (folder / "model.keras").write_bytes(b"weights")
    uploads.specs["pets (abc123)"] = "the spec"
    assert folder.is_dir() and str(folder).startswith(str(state.tempfile.gettempdir()))
    del uploads
    gc.collect()
    assert not folder.exists()
    assert forgotten == ["the spec"]
