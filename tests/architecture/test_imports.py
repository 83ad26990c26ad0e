"""The house rules of agent/, checked on its import graph (TYPE_CHECKING and function-level
imports count as much as the others)."""

from __future__ import annotations

from tests.architecture.imports import cycles, graph, package_edges


def test_no_module_imports_itself_through_others() -> None:
    assert cycles(graph()) == []


def test_no_circle_between_sub_packages() -> None:
    """e.g. sinks.mqtt and sinks.evidence, or two senses: one may use the other, not both."""
    assert cycles(package_edges(graph(), depth=3)) == []


def test_the_data_path_core_stands_on_its_own() -> None:
    allowed = ("agent.core", "agent.config.base", "agent.config.decision")
    outside = {
        (module, target)
        for module, targets in graph().items()
        if module.startswith("agent.core")
        for target in targets
        if target != "agent" and not target.startswith(allowed)
    }
    assert outside == set()


def test_sessions_and_backends_know_no_sense() -> None:
    leaks = {
        (module, target)
        for module, targets in graph().items()
        if module.startswith("agent.inference")
        for target in targets
        if target.startswith(("agent.senses", "agent.sinks", "agent.runtime", "agent.apps"))
    }
    assert leaks == set()


def test_a_sense_knows_neither_the_runtime_nor_the_sinks_nor_another_sense() -> None:
    """A sense folder uses the shared parts of agent/senses (spec, source, scorer), never the
    registry that lists it, another sense, the runtime, the sinks or an app."""
    edges = graph()
    folders = {".".join(m.split(".")[:3]) for m in edges if m.count(".") >= 3}
    folders = {f for f in folders if f.startswith("agent.senses.")}
    leaks = set()
    for module, targets in edges.items():
        own = ".".join(module.split(".")[:3])
        if own not in folders:
            continue
        for target in targets:
            other_sense = any(target.startswith(f) for f in folders - {own})
            upper = target.startswith(("agent.runtime", "agent.sinks", "agent.apps"))
            if other_sense or upper or target.startswith("agent.senses.registry"):
                leaks.add((module, target))
    assert folders == {f"agent.senses.{n}" for n in ("image", "temperature", "audio", "sensor")}
    assert leaks == set()


def test_the_agent_core_imports_no_app() -> None:
    leaks = {
        (module, target)
        for module, targets in graph().items()
        if not module.startswith(("agent.apps", "agent.cli", "agent.__main__"))
        for target in targets
        if target.startswith("agent.apps")
    }
    assert leaks == set()
