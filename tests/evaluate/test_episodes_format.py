"""The episode format refuses what it cannot trust, naming the file and the field at fault."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.apps.evaluate import evaluate
from agent.apps.evaluate.datasets import DatasetError, read_colour
from agent.apps.evaluate.episodes.format import read_episodes
from tests.support.episode_files import thermal_episode, write_episode, write_index

Breakage = Callable[[Path], None]


def rewrite(name: str, text: str) -> Breakage:
    def breaking(folder: Path) -> None:
        (folder / name).write_text(text)

    return breaking


def yaml_with(**changes: object) -> Breakage:
    def breaking(folder: Path) -> None:
        spec = {"duration_s": 10, "streams": {"thermal": {"index": "thermal.csv"}}}
        write_episode(folder, **{**spec, **changes})

    return breaking


def symlink_loop(folder: Path) -> None:
    (folder / "loop").symlink_to(folder / "loop")
    (folder / "thermal.csv").write_text("t_s,file\n0,loop\n")


@pytest.mark.parametrize(
    ("breakage", "names"),
    [
        (yaml_with(streams={"thermal": {"index": "gone.csv"}}),
         ["episode.yaml", "streams.thermal.index", "gone.csv: no such file"]),
        (yaml_with(streams={"video": {"index": "thermal.csv"}}),
         ["episode.yaml", "streams.video", "unknown stream"]),
        (yaml_with(streams={}), ["episode.yaml", "streams", "no stream"]),
        (yaml_with(duration_s="long"), ["episode.yaml", "duration_s"]),
        (yaml_with(faults=[{"start_s": 5, "end_s": 50, "type": "x"}]),
         ["episode.yaml", "faults[0]", "end_s <= duration_s"]),
        (yaml_with(faults=[{"start_s": 1, "end_s": 2, "type": "x", "senses": ["smell"]}]),
         ["episode.yaml", "faults[0].senses[0]", "image|thermal|audio|sensor"]),
        (yaml_with(thermal_calibration={"a": 0.01, "c": 1}),
         ["episode.yaml", "thermal_calibration.c", "unknown key"]),
        (rewrite("thermal.csv", "time,file\n0,spot_None.png\n"),
         ["thermal.csv", "columns ['time', 'file']", "expected ['t_s', 'file']"]),
        (rewrite("thermal.csv", "t_s,file\nsoon,spot_None.png\n"),
         ["thermal.csv", "row 2, column t_s", "not a number"]),
        (rewrite("thermal.csv", "t_s,file\n99,spot_None.png\n"),
         ["thermal.csv", "row 2, column t_s", "outside [0, duration_s"]),
        (rewrite("thermal.csv", "t_s,file\n0,../../../escape.png\n"),
         ["thermal.csv", "row 2, column file", "escape.png leaves"]),
        (rewrite("thermal.csv", "t_s,file\n0,missing.png\n"),
         ["thermal.csv", "row 2, column file", "missing.png: no such file"]),
        (rewrite("episode.yaml", "device: [unclosed\n"), ["episode.yaml", "not valid YAML"]),
        (rewrite("thermal.csv", "t_s,file\n0,a\0b.png\n"),
         ["thermal.csv", "row 2, column file", "cannot be resolved"]),
        (symlink_loop, ["thermal.csv", "row 2, column file", "cannot be resolved"]),
        (rewrite("thermal.csv", "t_s,file\n0," + "a" * 200_000 + "\n"),
         ["thermal.csv", "line 2", "field larger than field limit"]),
    ],
)  # fmt: skip
def test_a_broken_episode_names_its_file_and_field(
    tmp_path: Path, breakage: Breakage, names: list[str]
) -> None:
    folder = thermal_episode(tmp_path / "data" / "e", [None] * 10, faults=[])
    (tmp_path / "escape.png").write_bytes((folder / "spot_None.png").read_bytes())
    breakage(folder)
    with pytest.raises(DatasetError) as caught:
        read_episodes(tmp_path / "data")
    for name in names:
        assert name in str(caught.value)


def test_a_sensor_table_names_the_register_and_row(tmp_path: Path) -> None:
    folder = write_episode(tmp_path / "data" / "s", duration_s=10,
                           streams={"sensor": {"csv": "sensor.csv"}})  # fmt: skip
    (folder / "sensor.csv").write_text("t_s,Current\n0,1.5\n1,nan\n")
    with pytest.raises(DatasetError, match=r"sensor.csv: row 3, column Current: 'nan'"):
        read_episodes(tmp_path / "data")
    (folder / "sensor.csv").write_text("time,Current\n0,1.5\n")
    with pytest.raises(DatasetError, match=r"sensor.csv: the first column must be t_s"):
        read_episodes(tmp_path / "data")


def test_media_may_come_from_a_shared_pool_inside_the_folder(tmp_path: Path) -> None:
    """`../pool/x.png` stays inside DIR; the same file may be listed again and again."""
    thermal_episode(tmp_path / "data" / "pool", [None], faults=[])
    folder = tmp_path / "data" / "episodes" / "e"
    index = write_index(folder / "thermal.csv", [(t, "../../pool/spot_None.png") for t in range(5)])
    write_episode(folder, duration_s=5, streams={"thermal": {"index": index}})
    episodes = {e.name: e for e in read_episodes(tmp_path / "data")}
    files = set(episodes["episodes/e"].media["temperature"].files)
    assert files == {(tmp_path / "data" / "pool" / "spot_None.png").resolve()}


def test_an_unreadable_frame_is_named_when_replayed(tmp_path: Path) -> None:
    folder = thermal_episode(tmp_path / "data" / "e", [None] * 10, faults=[])
    (folder / "spot_None.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match=r"spot_None\.png"):
        evaluate("episodes", tmp_path / "data")


def test_a_bad_fusion_file_is_named(tmp_path: Path) -> None:
    thermal_episode(tmp_path / "data" / "e", [None] * 10, faults=[])
    settings = tmp_path / "fusion.yaml"
    settings.write_text("fusion: {threshold: 0.5}\nlearning: {duration_s: 60}\n")
    with pytest.raises(DatasetError, match=r"fusion\.yaml: learning: .*only target_false_alarms"):
        evaluate("episodes", tmp_path / "data", fusion=settings)
    settings.write_text("fusion: {weights: {smell: 1.0}}\n")
    with pytest.raises(DatasetError, match="as a device: fusion: weights: no sense named smell"):
        evaluate("episodes", tmp_path / "data", fusion=settings)


def test_no_episode_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"no episode\.yaml"):
        read_episodes(tmp_path)


def huge_png(path: Path, side: int) -> Path:
    """A valid grey PNG of side x side pixels, a few hundred KB: all black, well compressed."""
    rows = zlib.compress(b"\0" * ((side + 1) * side), 1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows)
                     + chunk(b"IEND", b""))  # fmt: skip
    return path


def test_a_frame_of_more_pixels_than_any_camera_is_refused_unread(tmp_path: Path) -> None:
    """9,000 x 9,000 in 80 KB: decoded, a gigabyte picture a second would take the agent down."""
    with pytest.raises(DatasetError, match="not an image OpenCV can read"):
        read_colour(huge_png(tmp_path / "frame.png", 9_000))
