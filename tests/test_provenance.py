"""Atomic result writes."""


def test_atomic_writes_get_ordinary_file_modes(tmp_path):
    import os

    from freqlens import provenance

    umask = os.umask(0)
    os.umask(umask)
    path = provenance.write_json(tmp_path / "x.json", {"a": 1})
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
