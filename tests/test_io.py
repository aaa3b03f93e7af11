"""Tests of atomic writes and the result store."""

from __future__ import annotations

import os

import numpy as np
import pytest

from grpo_theory._io import ResultStore, settings_key, write_atomic


def test_write_atomic_text_and_bytes(tmp_path):
    p = write_atomic(tmp_path / "sub" / "a.txt", "é\n")
    assert p.read_text(encoding="utf-8") == "é\n"
    write_atomic(p, b"\x00\x01")
    assert p.read_bytes() == b"\x00\x01"
    assert [f.name for f in p.parent.iterdir()] == ["a.txt"]  # no temporary left


def test_write_atomic_keeps_the_old_file_when_interrupted(tmp_path, monkeypatch):
    p = write_atomic(tmp_path / "a.txt", "old")

    def boom(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(p, "new")
    assert p.read_text() == "old"
    assert [f.name for f in tmp_path.iterdir()] == ["a.txt"]


def test_write_atomic_rejects_other_types(tmp_path):
    with pytest.raises(TypeError, match="data"):
        write_atomic(tmp_path / "a", 3)
    assert not (tmp_path / "a").exists()


def test_settings_key_is_order_free_and_distinguishes():
    assert settings_key({"a": 1, "b": 2}) == settings_key({"b": 2, "a": 1})
    assert settings_key({"a": 1}) != settings_key({"a": 2})
    assert len(settings_key([1, 2])) == 20


def test_store_round_trip_and_misses(tmp_path):
    store = ResultStore(tmp_path / "runs")
    assert store.load({"x": 1}) is None
    arrays = {"curve/test@8": np.linspace(0, 1, 5), "n": np.arange(3)}
    store.save({"x": 1}, arrays, {"time": 1.5, "ci": [0.1, 0.2]})
    got, header = store.load({"x": 1})
    assert set(got) == set(arrays)
    np.testing.assert_array_equal(got["curve/test@8"], arrays["curve/test@8"])
    assert header == {"time": 1.5, "ci": [0.1, 0.2]}
    assert store.load({"x": 2}) is None


def test_store_ignores_corrupt_and_foreign_files(tmp_path):
    store = ResultStore(tmp_path)
    path = store.save({"x": 1}, {"a": np.ones(3)}, {})
    path.write_bytes(path.read_bytes()[:40])  # truncated
    assert store.load({"x": 1}) is None
    # a file at the right name written for other settings (a hash collision) is not used
    other = store.save({"x": 2}, {"a": np.ones(3)}, {})
    os.replace(other, store.path({"x": 1}))
    assert store.load({"x": 1}) is None


def test_store_reserved_name(tmp_path):
    with pytest.raises(ValueError, match="__header__"):
        ResultStore(tmp_path).save({}, {"__header__": np.ones(1)}, {})
    assert list(tmp_path.iterdir()) == []
