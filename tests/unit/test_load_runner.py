"""``orders load``'s care of its own run: one run per ``--out``, its locust stopped with it,
and samples it cannot read named, not a traceback."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from load.plot import SamplesUnreadable, read_samples
from load.runner import OutInUse, _only_run_in

HEADER = "started,kind,status,ms,order_id,error,refusal\n"


def test_samples_are_read_and_a_line_that_is_not_one_is_named(tmp_path: Path) -> None:
    good = tmp_path / "requests.csv"
    good.write_text(HEADER + "1000.5,order,200,12.5,o-1,,\n1001.0,order,429,3.0,,,throttled\n")
    assert [s.status for s in read_samples(good)] == [200, 429]
    # two runs writing into one file: a line cut into another
    mixed = tmp_path / "mixed.csv"
    mixed.write_text(HEADER + "1000.5,order,200,12.5,o-1,,\n4f73-9834-a423bef369ad\n")
    with pytest.raises(SamplesUnreadable) as raised:
        read_samples(mixed)
    message = str(raised.value)
    assert (
        f"{mixed}, line 3, is not a sample (error, kind, ms, order_id, refusal, started, status)"
        in message
    )
    assert "two runs write to the same --out" in message


def test_a_second_run_into_the_same_out_is_refused(tmp_path: Path) -> None:
    refused = pytest.raises(OutInUse, match=f"another run is writing to {tmp_path}")
    with _only_run_in(tmp_path), refused, _only_run_in(tmp_path):
        pass
    with _only_run_in(tmp_path):  # free again once the first has finished
        pass


def test_a_terminated_run_takes_its_locust_with_it(tmp_path: Path) -> None:
    """The locust here is a stand-in (``sleep``) run the way ``orders load`` runs locust."""
    pid_file = tmp_path / "child.pid"
    script = textwrap.dedent(
        f"""
        import subprocess
        from load.runner import _stopped_with_locust
        with _stopped_with_locust():
            subprocess.run(["sh", "-c", "echo $$ > {pid_file}; exec sleep 120"], check=False)
        """
    )
    run = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).parents[2])
    deadline = time.monotonic() + 30
    while not (pid_file.exists() and pid_file.read_text().strip()):
        assert time.monotonic() < deadline, "the stand-in never started"
        time.sleep(0.05)
    child = int(pid_file.read_text())
    run.send_signal(signal.SIGTERM)
    assert run.wait(30) == 128 + signal.SIGTERM
    deadline = time.monotonic() + 30
    while _alive(child):
        assert time.monotonic() < deadline, "the stand-in outlived the run"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is gone for our purpose: its parent (the run) has exited, init reaps it
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        return stat.read().split(")")[-1].split()[0] != "Z"
