"""The snapshot-and-journal the local platform keeps its emulators' state in."""

from __future__ import annotations

from pathlib import Path

import pytest

from shop_local import persistence
from shop_local.persistence import Journal, StreamCheckpoints, forget_saved_state


def test_a_record_appended_is_recovered_by_the_next_process(tmp_path: Path) -> None:
    journal = Journal(tmp_path, "store")
    journal.append(b"one")
    journal.append(b"two")
    # Another process (a restart) reads what this one wrote, without a clean close.
    assert Journal(tmp_path, "store").recover() == (None, [b"one", b"two"])


def test_a_record_torn_by_a_crash_mid_write_is_dropped(tmp_path: Path) -> None:
    journal = Journal(tmp_path, "store")
    journal.append(b"whole")
    journal.append(b"torn record")
    path = tmp_path / "store.0.journal"
    path.write_bytes(path.read_bytes()[:-3])  # the process died in the middle of the write
    assert Journal(tmp_path, "store").recover() == (None, [b"whole"])


def test_compaction_replaces_the_journal_with_a_snapshot(tmp_path: Path) -> None:
    journal = Journal(tmp_path, "store")
    journal.append(b"change")
    journal.compact(b"state")
    journal.append(b"later")
    assert Journal(tmp_path, "store").recover() == (b"state", [b"later"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.1.journal", "store.1.snapshot"]


def test_a_crash_while_compacting_leaves_the_previous_pair(tmp_path: Path) -> None:
    journal = Journal(tmp_path, "store")
    journal.compact(b"first")
    journal.append(b"change")
    (tmp_path / "store.2.snapshot.partial").write_bytes(b"half a snap")  # never renamed
    assert Journal(tmp_path, "store").recover() == (b"first", [b"change"])


def test_stream_checkpoints_survive_a_restart(tmp_path: Path) -> None:
    StreamCheckpoints(tmp_path / "checkpoints.json").advance("stream:F", "shard-1", "1007")
    again = StreamCheckpoints(tmp_path / "checkpoints.json")
    assert again.position("stream:F", "shard-1") == "1007"
    assert again.position("stream:G", "shard-1") is None


def test_forgetting_the_state_removes_only_what_the_emulators_saved(tmp_path: Path) -> None:
    Journal(tmp_path, "dynamodb").compact(b"tables")
    Journal(tmp_path, "stripe").append(b"payment")
    StreamCheckpoints(tmp_path / "stream-checkpoints.json").advance("s", "shard", "1")
    (tmp_path / "jwt-signing-key.pem").write_text("key")
    forget_saved_state(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["jwt-signing-key.pem"]


def test_a_journal_with_a_snapshot_compacts_itself_after_enough_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(persistence, "COMPACT_AFTER_RECORDS", 3)
    journal = Journal(tmp_path, "store", snapshot=lambda: b"state after 3")
    for change in (b"1", b"2", b"3", b"4"):
        journal.append(change)
    assert Journal(tmp_path, "store").recover() == (b"state after 3", [b"4"])
    # Without one, it only compacts when told (at start and stop).
    other = Journal(tmp_path, "other")
    for change in (b"1", b"2", b"3", b"4"):
        other.append(change)
    assert Journal(tmp_path, "other").recover() == (None, [b"1", b"2", b"3", b"4"])
