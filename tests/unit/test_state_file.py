"""The emulator's state file: written whole or not at all, read back only when it is whole and
of this version, refused in one line otherwise; a crafted payload runs nothing."""

import json
import os
import pickle
from pathlib import Path

import pytest

from local.aws import moto_state
from local.aws.state_file import FRESH_HINT, MAGIC, StateFile, StateRefused, versions
from local.aws.state_saver import changes_state, restore_position

POSITION = {"stream_arn": "arn:s", "shard_id": "shard-1", "kind": "TRIM_HORIZON"}


def test_what_is_written_is_read_back_with_its_stream_position(tmp_path: Path) -> None:
    file = StateFile(tmp_path / "aws.state")
    file.write(b"payload bytes", POSITION)
    found = file.read()
    assert found is not None
    header, payload = found
    assert payload == b"payload bytes"
    assert header["stream_position"] == POSITION
    assert {key: header[key] for key in versions()} == versions()
    assert [p.name for p in tmp_path.iterdir()] == ["aws.state"]  # no temporary file left


def test_no_file_is_no_state(tmp_path: Path) -> None:
    assert StateFile(tmp_path / "aws.state").read() is None


def test_a_failed_write_leaves_the_previous_file(tmp_path: Path) -> None:
    file = StateFile(tmp_path / "aws.state")
    file.write(b"before", None)
    with pytest.raises(TypeError):
        file.write(b"after", {"not json": object()})  # fails before the rename
    found = file.read()
    assert found is not None
    assert found[1] == b"before"
    assert [p.name for p in tmp_path.iterdir()] == ["aws.state"]


def _rewritten(path: Path, **changes: object) -> None:
    data = path.read_bytes()
    end = data.index(b"\n", len(MAGIC))
    header = {**json.loads(data[len(MAGIC) : end]), **changes}
    path.write_bytes(MAGIC + json.dumps(header).encode() + data[end:])


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: p.write_bytes(b""), "is not an emulator state file"),
        (lambda p: p.write_bytes(b"PK\x03\x04 a zip"), "is not an emulator state file"),
        (lambda p: p.write_bytes(p.read_bytes()[:-7]), "is damaged (truncated: 93 of 100 bytes)"),
        (lambda p: p.write_bytes(MAGIC + b"{not json"), "is damaged (its header)"),
        (lambda p: p.write_bytes(MAGIC + b'{"bytes": 1}\nx'), "is damaged (its header)"),
        (lambda p: p.write_bytes(p.read_bytes()[:-1] + b"!"), "is damaged (its checksum differs)"),
        (lambda p: _rewritten(p, moto="5.1.0"), "was saved by moto 5.1.0"),
        (lambda p: _rewritten(p, project="0.0.1"), "order-pipeline 0.0.1"),
        (lambda p: _rewritten(p, format=99), "(state format 99)"),
    ],
)
def test_a_file_that_cannot_be_restored_is_refused_in_one_line_saying_what_to_do(
    tmp_path: Path, damage: object, message: str
) -> None:
    file = StateFile(tmp_path / "aws.state")
    file.write(b"x" * 100, None)
    damage(file.path)  # type: ignore[operator]
    with pytest.raises(StateRefused) as refused:
        file.read()
    line = str(refused.value)
    assert message in line
    assert line.startswith(str(file.path))
    assert line.endswith(FRESH_HINT)
    assert "\n" not in line
    assert file.path.exists()  # refused, never deleted


def test_a_folder_where_the_file_should_be_is_refused(tmp_path: Path) -> None:
    (tmp_path / "aws.state").mkdir()
    with pytest.raises(StateRefused, match="cannot be read"):
        StateFile(tmp_path / "aws.state").read()


def test_set_aside_keeps_the_file_under_a_new_name(tmp_path: Path) -> None:
    file = StateFile(tmp_path / "aws.state")
    assert file.set_aside() is None
    file.write(b"one", None)
    first = file.set_aside()
    file.write(b"two", None)
    second = file.set_aside()
    assert first is not None
    assert second is not None
    assert first != second
    assert not file.path.exists()
    assert first.name.startswith("aws.state.set-aside-")
    assert first.read_bytes().endswith(b"one")
    assert second.read_bytes().endswith(b"two")


class _Runs:
    """What a crafted pickle would make the reader call."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("touch /tmp/should-never-exist",))


@pytest.mark.parametrize(
    "payload",
    [
        pickle.dumps(_Runs()),
        pickle.dumps({"dynamodb": {}, "sqs": {}, "sns": _Runs()}),
        pickle.dumps(print),
        pickle.dumps(moto_state.capture),  # a function of the emulator's own is no class
    ],
)
def test_a_crafted_payload_names_something_else_and_runs_nothing(payload: bytes) -> None:
    with pytest.raises(pickle.UnpicklingError, match="which no emulator state holds"):
        moto_state.restore(payload)


def test_a_payload_of_the_wrong_shape_is_refused() -> None:
    with pytest.raises(pickle.UnpicklingError, match="not the emulator's services"):
        moto_state.restore(pickle.dumps({"s3": {}}))


@pytest.mark.parametrize(
    ("action", "answer", "changes"),
    [
        ("PutItem", b"{}", True),
        ("UpdateItem", b"{}", True),
        ("DeleteMessageBatch", b"{}", True),
        ("PublishBatch", b"{}", True),
        ("GetItem", b"{}", False),
        ("Query", b"{}", False),
        ("Scan", b"{}", False),
        ("GetRecords", b'{"Records": []}', False),
        ("DescribeTable", b"{}", False),
        ("ListQueues", b"{}", False),
        ("ReceiveMessage", b"{}", False),  # an empty receive changes nothing
        ("ReceiveMessage", b'{"Messages": [{"MessageId": "m"}]}', True),
        ("ReceiveMessage", b"<ReceiveMessageResult><Message>", True),
        ("", b"", True),  # not an AWS action (moto's own reset): counted
    ],
)
def test_which_calls_change_the_state(action: str, answer: bytes, changes: bool) -> None:
    assert changes_state(action, answer) is changes


def test_the_position_saved_with_the_state_replaces_a_newer_one(tmp_path: Path) -> None:
    path = tmp_path / "stream-position.json"
    path.write_text(json.dumps({**POSITION, "kind": "AFTER_SEQUENCE_NUMBER"}))
    restore_position(POSITION, path)
    assert json.loads(path.read_text()) == POSITION
    restore_position(None, path)  # nothing had been read when it was saved: from the start
    assert not path.exists()
