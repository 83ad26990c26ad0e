"""`edge-agent evaluate episodes` on tiny episodes the tests write, with known answers.

Thermal episodes need no model: the shipped temperature rule scores (peak − 60) / 30 °C, and
alone the sense carries the whole fused score, so a frame peaking at 80 °C scores 0.67 (over
the 0.3 threshold) and a spot-free 30 °C frame 0 (below the 0.25 clear level).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.apps.evaluate import evaluate
from agent.apps.evaluate.datasets import DatasetError
from agent.apps.evaluate.episodes import evaluate as replay_episodes
from agent.apps.evaluate.episodes import time_left
from agent.apps.evaluate.episodes.device import device_config, read_settings
from agent.apps.evaluate.episodes.format import read_episodes
from agent.apps.evaluate.episodes.media import episode_samples
from agent.apps.evaluate.episodes.replay import DEVICE, Replay
from agent.cli import main
from agent.core.alarms import AlarmEvent
from agent.inference.models import models_dir
from tests.support.episode_files import four_sense_episode, stand_in_models, thermal_episode

HOT = 80.0


def fault(start: float, end: float) -> dict[str, object]:
    return {"start_s": start, "end_s": end, "type": "overheating", "senses": ["thermal"]}


def replayed(data: Path, tmp_path: Path) -> Replay:
    """The replay of the one episode under `data`, kept for a look at its transitions."""
    (episode,) = read_episodes(data)
    config = device_config(episode, read_settings(None), models_dir(), None)
    replay = Replay(config, tmp_path / "scratch", lambda line: None)
    replay.run(episode_samples(episode, 1.0), episode.spec.duration_s)
    return replay


def test_a_healthy_episode_raises_no_alarm(tmp_path: Path) -> None:
    thermal_episode(tmp_path / "data" / "cool", [None] * 120, faults=[])
    result = evaluate("episodes", tmp_path / "data")
    assert (result["episodes"], result["faults"], result["false_alarms"]) == (1, 0, 0)
    assert result["miss_rate"] is None and result["time_to_detect_s"]["p50"] is None
    assert result["healthy_hours"] == round(120 / 3600, 4)
    assert result["alarm_open_healthy_fraction"] == 0.0
    assert result["per_episode"] == [
        {"name": "cool", "faults": 0, "detected": 0, "false_alarms": 0, "false_alarms_by": {},
         "time_to_detect_s": [], "learned_at_s": None}
    ]  # fmt: skip


def test_a_fault_is_detected_at_the_second_its_evidence_appears(tmp_path: Path) -> None:
    """Truth says the fault starts at 190 s; the frames show it from 200 s: 10 s to detect."""
    peaks = [None] * 200 + [HOT] * 60 + [None] * 40
    thermal_episode(tmp_path / "data" / "hot", peaks, faults=[fault(190, 260)])
    result = evaluate("episodes", tmp_path / "data")
    assert (result["faults"], result["detected"], result["miss_rate"]) == (1, 1, 0.0)
    assert result["time_to_detect_s"] == {"p50": 10.0, "p90": 10.0}
    assert result["per_episode"][0]["time_to_detect_s"] == [10.0]
    assert result["false_alarms"] == 0
    # cleared at 260, within the grace: 190 s before the fault and 40 - 60 s after, none open
    assert result["healthy_hours"] == round(190 / 3600, 4)
    assert result["alarm_open_healthy_fraction"] == 0.0


def test_an_alarm_after_the_grace_is_a_miss_and_a_false_alarm(tmp_path: Path) -> None:
    peaks = [None] * 200 + [HOT] * 20 + [None] * 80
    thermal_episode(tmp_path / "data" / "late", peaks, faults=[fault(100, 130)])
    result = evaluate("episodes", tmp_path / "data", grace_s=30.0)
    assert (result["detected"], result["false_alarms"]) == (0, 1)
    assert result["per_episode"][0]["time_to_detect_s"] == [None]
    assert result["grace_s"] == 30.0


def test_a_false_alarm_counts_once_however_often_it_is_updated(tmp_path: Path) -> None:
    """A spell whose peak climbs 70 → 89 °C: the open alarm is updated as its score moves."""
    climbing: list[float | None] = [70.0 + t for t in range(20)]
    peaks = [None] * 100 + climbing + [None] * 80
    data = tmp_path / "data"
    thermal_episode(data / "spell", peaks, faults=[])
    events = [t.event for t, _ in replayed(data, tmp_path).watches[DEVICE].transitions]
    assert events.count(AlarmEvent.UPDATED) >= 2 and events.count(AlarmEvent.RAISED) == 1
    result = evaluate("episodes", data)
    assert result["false_alarms"] == 1
    assert result["false_alarms_per_hour"] == round(1 / (200 / 3600), 4)
    # one false alarm in 200 s: the rate is anywhere from 0.46 to 100 per hour
    assert result["interval_95"] == {"miss_rate": None, "false_alarms_per_hour": [0.4557, 100.2896]}
    assert result["false_alarms_by"] == {"temperature": 1}  # the hot frames raised it
    assert result["per_episode"][0]["false_alarms_by"] == {"temperature": 1}


def test_an_alarm_left_open_counts_in_the_open_healthy_fraction(tmp_path: Path) -> None:
    peaks = [None] * 150 + [HOT] * 50  # raised at 150, never cleared: open 50 of 200 s
    thermal_episode(tmp_path / "data" / "open", peaks, faults=[])
    result = evaluate("episodes", tmp_path / "data")
    assert result["false_alarms"] == 1
    assert result["alarm_open_healthy_fraction"] == 0.25


def test_healthy_time_starts_after_learning_and_leaves_out_fault_windows(tmp_path: Path) -> None:
    peaks: list[float | None] = [HOT if 500 <= t < 520 else 41.0 + t % 5 for t in range(800)]
    thermal_episode(tmp_path / "data" / "e", peaks, faults=[fault(500, 520)], learn_s=400)
    result = evaluate("episodes", tmp_path / "data", grace_s=60.0)
    assert result["healthy_hours"] == round((800 - 400 - 80) / 3600, 4)


def test_learning_when_learn_s_is_set_calibrates_the_alarms(tmp_path: Path) -> None:
    """A spot warming to 68 °C stays under the shipped rule's alarm (69 °C), but far above the
    41-45 °C this machine ran at while learning: only the learned, calibrated device alarms."""
    healthy: list[float | None] = [41.0 + t % 5 for t in range(700)]
    peaks = healthy[:600] + [68.0] * 60 + healthy[:40]
    data = tmp_path / "data"
    thermal_episode(data / "learned", peaks, faults=[fault(600, 660)], learn_s=400)
    replay = replayed(data, tmp_path)
    assert replay.learned_at_s == 400.0
    (raised, at), *_ = replay.watches[DEVICE].transitions
    assert raised.event is AlarmEvent.RAISED and raised.decision.rule == "calibrated"
    assert at == 600.0
    result = evaluate("episodes", data)
    assert (result["detected"], result["false_alarms"]) == (1, 0)
    assert result["per_episode"][0]["learned_at_s"] == 400.0
    assert result["per_sense_alone"]["temperature"]["detected"] == 1
    # the frames after learning (401-599 s) in healthy time, none of the fault's, none rare
    check = result["calibration_check"]
    assert check["senses"] == check["per_episode"]["learned"]
    assert check["senses"]["temperature"]["judged"] == 199
    assert [level["reached"] for level in check["senses"]["temperature"]["levels"]] == [0, 0, 0]

    thermal_episode(data / "learned", peaks, faults=[fault(600, 660)], learn_s=0)
    assert evaluate("episodes", data)["detected"] == 0  # the shipped rule sees nothing


def test_two_runs_give_identical_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every sense, with stand-in models; the same figures to the byte, twice."""
    monkeypatch.setenv("EDGE_AGENT_MODELS", str(stand_in_models(tmp_path / "m", ["Current"])))
    four_sense_episode(tmp_path / "data" / "line" / "four", seconds=40, bright_from=20)
    first = evaluate("episodes", tmp_path / "data")
    assert json.dumps(first) == json.dumps(evaluate("episodes", tmp_path / "data"))
    assert first["per_episode"][0]["name"] == "line/four"
    assert set(first["per_sense_alone"]) == {"image", "temperature", "audio", "sensor"}
    assert first["detected"] == first["per_sense_alone"]["image"]["detected"] == 1
    assert first["per_sense_alone"]["temperature"]["detected"] == 0


def test_episodes_replayed_in_worker_processes_give_the_same_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two episodes in two spawned workers: the figures to the byte of one process, the
    episodes in their order, each one's progress said."""
    monkeypatch.setenv("EDGE_AGENT_MODELS", str(stand_in_models(tmp_path / "m", ["Current"])))
    four_sense_episode(tmp_path / "data" / "line" / "four", seconds=40, bright_from=20)
    thermal_episode(tmp_path / "data" / "hot", [None] * 30 + [HOT] * 30, [fault(30, 60)])
    alone = evaluate("episodes", tmp_path / "data")
    lines: list[str] = []
    together = replay_episodes(tmp_path / "data", None, 60.0, lines.append, jobs=2)
    assert json.dumps(together) == json.dumps(alone)
    assert [e["name"] for e in together["per_episode"]] == ["hot", "line/four"]
    assert any(line.startswith("hot: 60 s replayed") for line in lines)
    assert any(line.startswith("line/four: 40 s replayed") for line in lines)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "kill"])
def test_stopping_the_command_ends_its_worker_processes(
    tmp_path: Path, stop: signal.Signals
) -> None:
    """Ctrl-C or `kill` during a replay in worker processes ends the workers too: none is
    left behind replaying (or waiting) for a parent that is gone."""
    with replaying_in_two_workers(tmp_path) as (command, _):
        workers = children_of(command.pid)
        command.send_signal(stop)
        assert command.wait(timeout=30) != 0
        deadline = time.monotonic() + 15
        while alive := [pid for pid in workers if running(pid)]:
            assert time.monotonic() < deadline, f"workers left running: {alive}"
            time.sleep(0.1)


def test_a_worker_that_dies_stops_the_command_with_a_clear_error(tmp_path: Path) -> None:
    """A worker killed mid-replay (as by the out-of-memory killer) ends the command with an
    error that says so, and the other worker with it, instead of a wait forever."""
    with replaying_in_two_workers(tmp_path) as (command, workers):
        os.kill(workers[0], signal.SIGKILL)
        _, err = command.communicate(timeout=60)
        assert command.returncode == 1
        assert "a worker process died" in err
        assert not [pid for pid in workers if running(pid)]


@contextlib.contextmanager
def replaying_in_two_workers(
    tmp_path: Path,
) -> Iterator[tuple[subprocess.Popen[str], list[int]]]:
    """`edge-agent evaluate episodes --jobs 2` on six long episodes, once both of its worker
    processes run: the command (stderr piped) and the workers. Whatever happens, nothing it
    started is left running."""
    for k in range(6):
        thermal_episode(tmp_path / "data" / f"long-{k}", [None] * 3000, faults=[])
    args = ["evaluate", "episodes", "--data", str(tmp_path / "data"), "--jobs", "2"]
    command = subprocess.Popen(
        [sys.executable, "-m", "agent", *args], stderr=subprocess.PIPE, text=True
    )
    workers: list[int] = []
    with command:
        try:
            deadline = time.monotonic() + 60
            while len(workers := [c for c in children_of(command.pid) if is_worker(c)]) < 2:
                assert time.monotonic() < deadline, "the two worker processes did not start"
                time.sleep(0.1)
            yield command, workers
        finally:
            command.kill()
            for pid in workers:
                if is_worker(pid):
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)


def is_worker(pid: int) -> bool:
    """A multiprocessing worker, spawned (its command line says so; False once gone)."""
    return b"spawn_main" in cmdline(pid)


def children_of(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    return [int(entry.name) for entry in Path("/proc").iterdir()
            if entry.name.isdigit() and (stat := proc_stat(int(entry.name)))
            and int(stat[1]) == pid]  # fmt: skip


def cmdline(pid: int) -> bytes:
    """The process's command line (empty once gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def running(pid: int) -> bool:
    """The process exists and is not a zombie waiting to be reaped."""
    stat = proc_stat(pid)
    return stat is not None and stat[0] != "Z"


def proc_stat(pid: int) -> list[str] | None:
    """/proc/PID/stat's fields after the command name (state, ppid, ...); None once gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def test_the_command_prints_json_and_progress(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    thermal_episode(tmp_path / "data" / "hot", [None] * 30 + [HOT] * 30, [fault(30, 60)])
    settings = tmp_path / "fusion.yaml"
    settings.write_text("fusion: {threshold: 0.9}\nlearning: {target_false_alarms_per_day: 2}\n")
    args = ["evaluate", "episodes", "--data", str(tmp_path / "data"), "--json"]
    assert main([*args, "--grace", "5"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["detected"] == 1 and json.loads(out)["grace_s"] == 5.0
    assert "hot: 60 s replayed" in err
    assert "[1/1] hot: 1 of 1 faults detected, 0 false alarms\n" in err  # no time left to say
    assert main([*args, "--fusion", str(settings)]) == 0  # 0.67 is under 0.9 now
    assert json.loads(capsys.readouterr().out)["detected"] == 0


def test_the_time_left_follows_the_episode_time_replayed_not_the_episode_count() -> None:
    assert time_left(60.0, 3600.0, 4 * 3600.0) == "; about 3 min left"
    assert time_left(10.0, 3600.0, 4 * 3600.0) == "; about 30 s left"
    assert time_left(60.0, 3600.0, 3600.0) == ""


def test_fusion_and_grace_belong_to_episodes_only(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="--fusion, --grace and --jobs"):
        evaluate("baseline", tmp_path, grace_s=5.0)
    with pytest.raises(DatasetError, match="--jobs 0: 1 to 64"):
        evaluate("episodes", tmp_path, jobs=0)


def test_learn_belongs_to_baseline_only(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="--learn applies to evaluate baseline only"):
        evaluate("episodes", tmp_path, learn="0.2")


def test_learned_fusion_decides_once_learned_beside_the_weighted_mode(tmp_path: Path) -> None:
    """The same warm spot as above, fused by a hand-made learned model: its alarm names the
    rule `learned`, and the weighted mode's figures come from the same replay."""
    healthy: list[float | None] = [41.0 + t % 5 for t in range(700)]
    data = tmp_path / "data"
    peaks = healthy[:600] + [68.0] * 60 + healthy[:40]
    thermal_episode(data / "learned", peaks, faults=[fault(600, 660)], learn_s=400)
    model = {
        "format": "edge-agent-fusion/1", "version": "1.0.0", "knots_decades": [-1.0],
        "cap_decades": 12.0, "bias": -1.0, "threshold": 0.5,
        "senses": {"temperature": {"weights": [10.0], "present": 0.0}},
    }  # fmt: skip
    (tmp_path / "fusion.json").write_text(json.dumps(model))
    settings = tmp_path / "fusion.yaml"
    settings.write_text(f"fusion: {{mode: learned, model: {tmp_path / 'fusion.json'}}}\n")
    (episode,) = read_episodes(data)
    config = device_config(episode, read_settings(settings), models_dir(), None)
    replay = Replay(config, tmp_path / "scratch", lambda line: None)
    replay.run(episode_samples(episode, 1.0), episode.spec.duration_s)
    (raised, at), *_ = replay.watches[DEVICE].transitions
    assert raised.decision.rule == "learned" and at == 600.0
    contribution = raised.decision.modalities["temperature"].contribution
    assert contribution is not None and contribution > 1.0
    result = evaluate("episodes", data, fusion=settings)
    assert result["mode"] == "learned" and result["detected"] == 1
    assert result["weighted_mode"]["detected"] == 1
    assert "weighted_mode" not in evaluate("episodes", data)


def test_an_on_delay_from_the_fusion_file_delays_the_raise_by_as_much(tmp_path: Path) -> None:
    peaks = [None] * 200 + [HOT] * 60 + [None] * 40
    thermal_episode(tmp_path / "data" / "hot", peaks, faults=[fault(190, 260)])
    settings = tmp_path / "fusion.yaml"
    settings.write_text("alarm: {on_delay_s: 15}\n")
    result = evaluate("episodes", tmp_path / "data", fusion=settings)
    assert result["detected"] == 1 and result["time_to_detect_s"]["p50"] == 10.0 + 15.0
