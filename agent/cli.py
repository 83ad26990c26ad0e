"""`edge-agent` command line: parse, load config, hand over to the package."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from agent import __version__
from agent.apps.bench.command import BENCH_HELP, add_bench_arguments, run_bench_command
from agent.apps.evaluate import EVALUATORS, evaluate
from agent.apps.evaluate.datasets import DatasetError
from agent.apps.evaluate.report import render
from agent.apps.fleet.command import FLEET_HELP, add_fleet_arguments, run_fleet
from agent.apps.learn.command import LEARN_HELP, add_learn_arguments, run_learn
from agent.config.base import overridden
from agent.config.device import AgentConfig
from agent.config.loader import ConfigError, load_config
from agent.fleet.overlay import load_effective_config
from agent.inference.session import ModelError
from agent.observe.logs import LOG_FORMATS, configure_logging
from agent.observe.metrics import MetricsError

EXIT_CONFIG = 2
EXIT_FAILED = 1
DESCRIPTION = """\
Watch machines through a camera, an infrared camera, a microphone and Modbus sensors,
fuse what the senses report into one decision per device, and publish alarms over MQTT."""
EPILOG = """\
try it:     edge-agent demo                      (bundled recordings, no hardware needed)
run it:     edge-agent run --config FILE         (your devices; check with check-config FILE)
more help:  edge-agent COMMAND --help"""


def is_port(text: str) -> bool:
    """A TCP port number, 1-65535."""
    return text.isdigit() and 0 < int(text) < 65536


def broker_address(text: str) -> tuple[str, int]:
    """Parse HOST:PORT for --broker."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not is_port(port):
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def port_number(text: str) -> int:
    """Parse --metrics-port and --port."""
    if not is_port(text):
        raise argparse.ArgumentTypeError(f"expected a port 1-65535, got {text!r}")
    return int(text)


def command(sub: Any, name: str, text: str) -> argparse.ArgumentParser:
    """A subcommand whose one-sentence help is also the description of its own --help."""
    parser: argparse.ArgumentParser = sub.add_parser(name, help=text, description=text)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """All subcommands and their options."""
    parser = argparse.ArgumentParser(
        prog="edge-agent",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"edge-agent {__version__}")
    parser.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        help="default: info (demo: warning, so the live view stays readable)",
    )
    parser.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default="auto",
        help="auto (default): readable text on a terminal, JSON lines otherwise (journald)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = command(
        sub, "run", "Watch the devices of a config file and publish their alarms over MQTT."
    )
    run.add_argument("--config", required=True, type=Path, help="YAML config file")
    run.add_argument("--broker", type=broker_address, help="override the broker, HOST:PORT")
    run.add_argument("--metrics-port", type=port_number, help="serve Prometheus /metrics here")

    check = command(sub, "check-config", "Check a config file for errors, then exit.")
    check.add_argument("file", type=Path)

    demo = command(sub, "demo", "Watch three simulated machines from bundled recordings, live.")
    demo.add_argument("--duration", type=float, default=60.0, help="seconds (default 60)")
    demo.add_argument("--broker", type=broker_address, help="HOST:PORT (default 127.0.0.1:1883)")
    demo.add_argument("--prefix", default="edge", help="MQTT topic prefix (default edge)")
    demo.add_argument("--json-log", type=Path, help="also write every event as JSON lines")
    demo.add_argument("--metrics-port", type=port_number, help="serve Prometheus /metrics here")
    demo.add_argument(
        "--evidence-dir", type=Path, default=Path("demo-evidence"),
        help="where each alarm event is kept with its evidence (default ./demo-evidence)",
    )  # fmt: skip

    dashboard = command(
        sub, "dashboard", "Serve the operator dashboard, a web page of devices and alarms."
    )
    dashboard.add_argument("--config", type=Path, help="agent YAML: its broker and dashboard")
    dashboard.add_argument("--broker", type=broker_address, help="override the broker, HOST:PORT")
    dashboard.add_argument("--prefix", help="override the MQTT topic prefix")
    dashboard.add_argument("--bind", help="listen address (default 127.0.0.1)")
    dashboard.add_argument("--port", type=port_number, help="listen port (default 8080)")

    add_bench_arguments(command(sub, "bench", BENCH_HELP), broker_address)

    add_learn_arguments(command(sub, "learn", LEARN_HELP))

    add_fleet_arguments(command(sub, "fleet", FLEET_HELP))

    evaluate = command(sub, "evaluate", "Measure how well a model scores on labelled data.")
    evaluate.add_argument("kind", choices=sorted(EVALUATORS))
    evaluate.add_argument("--data", required=True, type=Path, help="dataset to evaluate on")
    evaluate.add_argument("--model", type=Path, help="ONNX file (default: the shipped model)")
    evaluate.add_argument(
        "--learn",
        help="baseline: what each run learns on, a fraction or a duration (30m, 2h); default 0.1",
    )  # fmt: skip
    evaluate.add_argument(
        "--fusion", type=Path,
        help="episodes: YAML with a device's fusion section (and learning's target)",
    )  # fmt: skip
    evaluate.add_argument(
        "--grace", type=float, metavar="S",
        help="episodes: an alarm up to S seconds after a fault ends detects it (default 60)",
    )  # fmt: skip
    evaluate.add_argument(
        "--jobs", type=int, metavar="N",
        help="episodes: replay N episodes at a time, each in a process (default 1)",
    )  # fmt: skip
    evaluate.add_argument(
        "--plots", type=Path, metavar="DIR",
        help="episodes, baseline: draw each episode or run (SVG) and an index.html there",
    )  # fmt: skip
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def run_evaluate(args: argparse.Namespace) -> int:
    """`edge-agent evaluate`: print the metrics; a bad dataset or model is a clear error."""
    try:
        with exit_on_sigterm():
            result = evaluate(
                args.kind,
                args.data,
                args.model,
                args.learn,
                args.fusion,
                args.grace,
                args.jobs,
                args.plots,
            )
    except (ModelError, DatasetError) as exc:
        print(f"cannot evaluate: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except BrokenProcessPool:
        print("cannot evaluate: a worker process died (killed, or out of memory?); "
              "the others were stopped. Try fewer --jobs.", file=sys.stderr)  # fmt: skip
        return EXIT_FAILED
    print(render(result, args.json))
    return 0


@contextlib.contextmanager
def exit_on_sigterm() -> Iterator[None]:
    """SIGTERM (`kill`, `timeout`, systemd) exits as Ctrl-C would, through `finally` and `with`
    blocks, so an evaluation's worker processes end with it; the previous handler comes back."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def terminated(signum: int, frame: object) -> None:
    """Exit with the shell's code for death by that signal."""
    raise SystemExit(128 + signum)


def run_demo_command(args: argparse.Namespace) -> int:
    """`edge-agent demo`: the live view, then the summary."""
    from agent.apps.demo.runner import DemoOptions, run_demo  # loads the model stack

    options = DemoOptions(
        args.duration, args.broker, args.prefix, args.evidence_dir, args.json_log,
        args.metrics_port,
    )  # fmt: skip
    try:
        print(asyncio.run(run_demo(options)))
    except (ConfigError, ModelError, MetricsError) as exc:
        print(f"demo cannot start: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return 0


def run_dashboard_command(args: argparse.Namespace) -> int:
    """`edge-agent dashboard`: serve until stopped; refuse an open non-loopback bind."""
    from agent.apps.dashboard.auth import DashboardAuthError
    from agent.apps.dashboard.history import HistoryDatabaseError
    from agent.apps.dashboard.server import serve, settings_from

    try:
        config = load_config(args.config) if args.config else None
    except ConfigError as exc:
        print(exc.report(), file=sys.stderr)
        return EXIT_CONFIG
    settings = settings_from(config, args.broker, args.prefix, args.bind, args.port)
    try:
        asyncio.run(serve(settings))
    except (DashboardAuthError, HistoryDatabaseError) as exc:
        print(f"dashboard cannot start: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `edge-agent` console script."""
    args = build_parser().parse_args(argv)
    configure_logging(
        args.log_level or ("warning" if args.command == "demo" else "info"), args.log_format
    )
    if args.command == "evaluate":
        return run_evaluate(args)
    if args.command == "demo":
        return run_demo_command(args)
    if args.command == "dashboard":
        return run_dashboard_command(args)

    if args.command == "bench":
        return run_bench_command(args)
    if args.command == "fleet":
        return run_fleet(args)
    try:
        if args.command == "run":  # with the config fragments of the bundles in use
            config = load_effective_config(args.config)
        else:
            config = load_config(args.file if args.command == "check-config" else args.config)
    except ConfigError as exc:
        print(exc.report(), file=sys.stderr)
        return EXIT_CONFIG
    if args.command == "check-config":
        print(f"OK: {args.file} (site {config.site}, {len(config.devices)} devices)")
        return 0
    if args.command == "learn":
        return run_learn(config, args)
    from agent.runtime.agent import run_until_signalled  # loads the model stack only when running

    def with_overrides(loaded: AgentConfig) -> AgentConfig:  # at start and on every SIGHUP
        host, port = args.broker or (None, None)
        return overridden(
            loaded,
            broker=overridden(loaded.broker, host=host, port=port),
            metrics=overridden(loaded.metrics, port=args.metrics_port),
        )

    def reload(running: Mapping[str, str] | None = None) -> AgentConfig:
        return with_overrides(load_effective_config(args.config, running))

    try:
        asyncio.run(run_until_signalled(with_overrides(config), reload))
    except ModelError as exc:
        print(f"model error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except MetricsError as exc:
        print(f"cannot start: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return 0


if __name__ == "__main__":
    sys.exit(main())
