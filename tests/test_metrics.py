"""/metrics of a running agent: scraped over HTTP, parsed by Prometheus' own text parser.

One agent runs once per module on a bright (defective) camera file and a hot thermal
sequence, publishing to the real broker; the tests then read what it served.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import shutil
import subprocess
import urllib.request
import uuid
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from agent.config.device import AgentConfig
from agent.config.metrics import MetricsConfig
from agent.observe.metrics import MetricsError, MetricsExporter
from agent.runtime.agent import Agent
from tests.support.onnx_models import brightness_detector
from tests.support.tasks import eventually
from tests.support.thermal_frames import frame_with_spot, infrared_source
from tests.support.video_files import write_flat_video

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
DASHBOARD = REPO / "deploy" / "grafana" / "edge-agent.json"
FAMILIES = {
    "edge_agent_stage_seconds": "histogram",
    "edge_agent_inference_seconds": "histogram",
    "edge_agent_capture_to_decision_seconds": "histogram",
    "edge_agent_trigger_to_published_seconds": "histogram",
    "edge_agent_samples_received": "counter",
    "edge_agent_samples_dropped": "counter",
    "edge_agent_alarm_events": "counter",
    "edge_agent_alarm_events_replayed": "counter",
    "edge_agent_rejected_messages": "counter",
    "edge_agent_fused_score": "gauge",
    "edge_agent_outbox_depth": "gauge",
    "edge_agent_mqtt_connected": "gauge",
    "edge_agent_source_state": "gauge",  # an Enum: one 0/1 series per state
    "edge_agent_model_state": "gauge",
    "edge_agent_calibration_judged": "gauge",  # no series until a device has learned
    "edge_agent_calibration_reached": "gauge",
    "edge_agent_calibration_verdict": "gauge",
}
GPU_ONLY = {"edge_agent_gpu_memory_used_bytes"}  # served once a model runs on a GPU backend


def agent_config(tmp_path: Path, broker: tuple[str, int]) -> AgentConfig:
    detector = brightness_detector(tmp_path / "det.onnx", ["scratches", "patches"])
    return AgentConfig.model_validate(
        {
            "site": "metrics",
            "broker": {
                "host": broker[0],
                "port": broker[1],
                "topic_prefix": f"test-{uuid.uuid4().hex[:8]}",
            },
            "storage": {"dir": str(tmp_path / "state")},
            "inspection": {"enabled": False},
            "metrics": {"port": 0},
            "devices": [
                {
                    "id": "pump-01",
                    "sources": {
                        "camera": {
                            "uri": str(write_flat_video(tmp_path / "cam.avi", 230, frames=30)),
                            "fps": 10,
                            "loop": True,
                            "detector": {"model": str(detector)},
                        },
                        "infrared": infrared_source(
                            tmp_path / "ir",
                            [frame_with_spot(28.0, 120.0)],
                            fps=5,
                            scorer={"warn_c": 60, "limit_c": 90},
                        ),
                    },
                }
            ],
        }
    )


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        return response.read().decode()


async def run_and_scrape(config: AgentConfig) -> str:
    """Run the agent until it raised an alarm and scored a few frames, then scrape it."""
    agent = Agent(config)
    stop = asyncio.Event()
    running = asyncio.create_task(agent.run(stop))
    try:
        pipeline = agent.pipelines[0]
        await eventually(lambda: agent.publisher.delivered >= 1, 30)
        await eventually(lambda: sum(pipeline.status().processed.values()) >= 10, 30)
        await asyncio.sleep(1.5)  # one refresh of the state gauges after the alarm
        assert agent.metrics is not None
        return await asyncio.to_thread(scrape, agent.metrics.url)
    finally:
        stop.set()
        await running


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory, broker: tuple[str, int]) -> str:
    config = agent_config(tmp_path_factory.mktemp("metrics"), broker)
    return asyncio.run(run_and_scrape(config))


def families(text: str) -> dict[str, tuple[str, list[tuple[str, dict[str, str], float]]]]:
    return {
        family.name: (family.type, [(s.name, s.labels, s.value) for s in family.samples])
        for family in text_string_to_metric_families(text)
    }


def series_names(family: str, kind: str) -> list[str]:
    """The names a family's series go by in PromQL (declared families count without samples)."""
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}
    return [family + suffix for suffix in suffixes.get(kind, [""])]


def test_every_listed_family_is_served_with_its_type(scraped: str) -> None:
    found = families(scraped)
    assert {name: found[name][0] for name in FAMILIES if name in found} == FAMILIES


def test_stages_and_inference_carry_real_observations(scraped: str) -> None:
    found = families(scraped)
    counts = {
        (labels["stage"], labels["modality"]): value
        for name, labels, value in found["edge_agent_stage_seconds"][1]
        if name.endswith("_count")
    }
    for stage in ("decode", "preprocess", "inference", "postprocess", "score"):
        assert counts[(stage, "image")] >= 5, stage
    assert counts[("preprocess", "temperature")] >= 1
    assert counts[("fusion", "")] + counts.get(("fusion", "image"), 0) >= 5
    assert counts[("publish", "")] >= 1
    inference = [
        labels
        for name, labels, value in found["edge_agent_inference_seconds"][1]
        if name.endswith("_count") and value > 0
    ]
    assert inference == [
        {"model": inference[0]["model"], "backend": "onnxruntime/CPUExecutionProvider"}
    ]
    assert "gpu" not in scraped  # no GPU backend: no GPU memory family, not a fake zero


def test_state_gauges_follow_the_agent(scraped: str) -> None:
    found = families(scraped)
    values = {
        (name, tuple(sorted(labels.items()))): v
        for name, labels, v in itertools.chain.from_iterable(s for _, s in found.values())
    }
    assert values[("edge_agent_mqtt_connected", ())] == 1
    assert values[("edge_agent_outbox_depth", ())] == 0
    assert values[("edge_agent_fused_score", (("device", "pump-01"),))] > 0.3
    raised = (("device", "pump-01"), ("event", "raised"))
    assert values[("edge_agent_alarm_events_total", raised)] == 1
    assert values[("edge_agent_trigger_to_published_seconds_count", raised)] == 1  # its PUBACK
    ok = (("device", "pump-01"), ("edge_agent_source_state", "ok"), ("modality", "image"))
    assert values[("edge_agent_source_state", ok)] == 1
    received = (("device", "pump-01"), ("modality", "image"))
    assert values[("edge_agent_samples_received_total", received)] >= 10


def test_promtool_accepts_the_output(scraped: str) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian package 'prometheus'); parser checks ran")
    result = subprocess.run(
        [promtool, "check", "metrics"], input=scraped, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_grafana_dashboard_queries_only_served_metrics(scraped: str) -> None:
    served = {
        series
        for name, (kind, _) in families(scraped).items()
        for series in series_names(name, kind)
    }
    served |= GPU_ONLY
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    queries += [v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    assert len(queries) >= 8
    used = {m for q in queries for m in re.findall(r"\bedge_agent_[a-z_]+", q)}
    assert used, "the dashboard queries no agent metric"
    assert sorted(used - served) == []


async def test_a_taken_port_is_a_clear_error(tmp_path: Path, broker: tuple[str, int]) -> None:
    config = agent_config(tmp_path, broker)
    first = Agent(config)
    assert first.metrics is not None
    first.metrics.start()
    try:
        taken = config.metrics.model_copy(update={"port": first.metrics.port})
        second = MetricsExporter(taken, first.pipelines, first.publisher)
        with pytest.raises(MetricsError, match=r"metrics.port: cannot serve on 127.0.0.1:\d+"):
            second.start()
    finally:
        await first.metrics.stop()
        first.outbox.close()


def test_metrics_port_option_on_run_and_demo() -> None:
    from agent.cli import build_parser

    parser = build_parser()
    run = parser.parse_args(["run", "--config", "agent.yaml", "--metrics-port", "9108"])
    demo = parser.parse_args(["demo", "--metrics-port", "9109"])
    assert (run.metrics_port, demo.metrics_port) == (9108, 9109)
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "--config", "agent.yaml", "--metrics-port", "http"])
    assert MetricsConfig().port is None  # off unless asked for
