"""Turns recorded timings into the bench's JSON contract and its printed table.

JSON keys other tools rely on: `stages`, `capture_to_alarm_ms` and `trigger_to_published_ms`
(`p50`, `p99`), `streams`, `pipeline_fps`, `model_fps`, `efficiency` (= pipeline_fps /
model_fps), `backend`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent.apps.bench.recorder import BenchRecorder, Percentiles, percentiles
from agent.core.alarms import AlarmEvent
from agent.observe.stages import Stage
from agent.senses.image.config import SENSE as IMAGE
from agent.senses.registry import SENSES

RAISED = str(AlarmEvent.RAISED)

if TYPE_CHECKING:
    from agent.apps.bench.bare import BareModel, BareRuns
    from agent.apps.bench.options import BenchOptions


def stage_table(recorder: BenchRecorder) -> dict[str, Any]:
    """Per-stage percentiles: the camera path, each modality where stages differ, each model."""
    per_modality = (Stage.PREPROCESS, Stage.POSTPROCESS, Stage.SCORE)
    stages: dict[str, Any] = {
        Stage.DECODE.value: percentiles(recorder.stage(Stage.DECODE, IMAGE)),
        Stage.INFERENCE.value: {
            model: percentiles(times) for model, times in sorted(recorder.inference.items())
        },
        Stage.FUSION.value: percentiles(recorder.all_modalities(Stage.FUSION)),
        Stage.PUBLISH.value: percentiles(recorder.all_modalities(Stage.PUBLISH)),
    }
    for stage in per_modality:
        stages[stage.value] = {
            modality: percentiles(recorder.stage(stage, modality))
            for modality in recorder.modalities(stage)
        }
    return stages


def inspection_ms(recorder: BenchRecorder) -> dict[str, Any] | None:
    """One inspection's compute: every modality scored once, then fused (sum of the p50s/p99s).

    None unless all four senses were scored in the window.
    """
    scored = {m: percentiles(recorder.stage(Stage.SCORE, str(m))) for m in SENSES}
    if any(p["count"] == 0 for p in scored.values()):
        return None
    fusion = percentiles(recorder.all_modalities(Stage.FUSION))
    return {
        key: round(sum(p[key] for p in scored.values()) + fusion[key], 2) for key in ("p50", "p99")
    } | {"method": "sum of each modality's score stage and one fusion"}


def rate(durations: list[float]) -> float:
    """Runs per second when run back to back: 1 / mean duration (0 without runs)."""
    return len(durations) / sum(durations) if durations else 0.0


def summarise(
    recorder: BenchRecorder,
    window: dict[str, float],
    model_runs: BareRuns,
    bare: BareModel,
    options: BenchOptions,
    embedded_broker: bool,
) -> dict[str, Any]:
    """The bench result as a JSON-ready dict."""
    seconds = window["seconds"]
    scored = len(recorder.stage(Stage.SCORE, IMAGE))
    pipeline_fps = scored / seconds
    model_fps = model_runs.fps
    detector = percentiles(model_runs.times)
    batch_mean = window["batch_mean"]
    capture = percentiles(recorder.decisions.get(IMAGE, []))
    return {
        "backend": ", ".join(sorted(recorder.backends)) or "none",
        "streams": options.streams,
        "fps_per_stream_requested": options.fps,
        "measured_s": round(seconds, 2),
        "pipeline_fps": round(pipeline_fps, 2),
        "pipeline_fps_per_stream": round(pipeline_fps / options.streams, 2),
        "model_fps": round(model_fps, 2),
        "model_batch": bare.batch,  # frames per bare run: as many as the cameras can batch
        # bare sessions run at once: one per camera that has its own (parallel threads)
        "model_sessions": len(bare.sessions),
        # frames per detector run inside the pipeline (cameras batched together)
        "detector_batch_mean": round(batch_mean, 2),
        # one detector session's speed inside the pipeline (frames / its mean run time there);
        # unlike model_fps it shares every moment of load with the pipeline, but it counts one
        # session: cameras with sessions of their own run several at once
        "model_fps_in_pipeline": round(
            rate(recorder.stage(Stage.INFERENCE, IMAGE)) * max(batch_mean, 1.0), 2
        ),
        # significant digits, not decimals: at a configured 2 fps the ratio is about 0.01
        "efficiency": float(f"{pipeline_fps / model_fps:.4g}") if model_fps else 0.0,
        "detector_model_ms": detector,
        "capture_to_alarm_ms": capture,
        "capture_to_alarm_by_modality_ms": {
            m: percentiles(times) for m, times in sorted(recorder.decisions.items())
        },
        # the sample that triggered a raised alarm to the broker's PUBACK, evidence included
        "trigger_to_published_ms": percentiles(recorder.published.get(RAISED, [])),
        "trigger_to_published_by_event_ms": {
            event: percentiles(times) for event, times in sorted(recorder.published.items())
        },
        "stages": stage_table(recorder),
        "frames": {
            "received": recorder.received.get(IMAGE, 0),
            "scored": scored,
            "skipped": recorder.dropped.get(IMAGE, 0),
        },
        "inspection_ms": inspection_ms(recorder),
        "cpu_percent": round(window["cpu_percent"], 1),
        "broker": "embedded amqtt" if embedded_broker else "external",
        "camera_only": options.camera_only,
    }


def _cell(p: Percentiles) -> str:
    if not p.get("count"):
        return "-"
    return f"p50 {p['p50']:8.2f}  p99 {p['p99']:8.2f}  n={p['count']}"


def render(result: dict[str, Any]) -> str:
    """The human-readable table."""
    lines = [
        f"edge-agent bench: {result['streams']} x {'x'.join(map(str, result['video']['size']))} "
        f"stream(s), backend {result['backend']}, "
        f"{result['measured_s']} s measured, CPU {result['cpu_percent']}% "
        f"(100% = one of {result['cpu_count']} cores), RSS {result['rss_mb']} MB"
        + (f", GPU memory {result['gpu_memory_mb']} MB" if result["gpu_memory_mb"] else ""),
        "stage latency (ms):",
    ]
    for stage, value in result["stages"].items():
        if "count" in value:
            lines.append(f"  {stage:<12} {'':<24} {_cell(value)}")
            continue
        for name, p in value.items():
            lines.append(f"  {stage:<12} {name:<24} {_cell(p)}")
    lines += [
        f"capture to alarm (camera)  {_cell(result['capture_to_alarm_ms'])}",
        f"trigger to published (raised)  {_cell(result['trigger_to_published_ms'])}",
        f"detector alone ({result['model_sessions']} x batch {result['model_batch']})  "
        f"{_cell(result['detector_model_ms'])}",
        f"pipeline fps {result['pipeline_fps']} ({result['pipeline_fps_per_stream']} per stream, "
        f"{result['fps_per_stream_requested']} offered, {result['detector_batch_mean']} frames "
        f"per detector run), bare model fps {result['model_fps']} ({result['model_sessions']} "
        f"session(s) x batch {result['model_batch']}), efficiency {result['efficiency']}",
        f"frames: {result['frames']}",
    ]
    if result["inspection_ms"] is not None:
        inspection = result["inspection_ms"]
        lines.append(
            f"per-device inspection (4 senses scored + fused): p50 {inspection['p50']} ms, "
            f"p99 {inspection['p99']} ms"
        )
    if "ultralytics" in result:
        peer = result["ultralytics"]
        lines.append(
            f"vs Ultralytics {peer['ultralytics_version']} (same model and video, end to end): "
            f"ours {peer['ours_fps']} fps, theirs {peer['ultralytics_fps']} fps, "
            f"vs_ultralytics {result['vs_ultralytics']}"
        )
    return "\n".join(lines)
