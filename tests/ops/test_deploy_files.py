"""deploy/: the Prometheus rules and the Grafana dashboard only name metrics b24sync exports; the files parse."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client.registry import REGISTRY
from ruamel.yaml import YAML

import b24sync.engine.metrics  # noqa: F401  (registers the metrics)

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _exported() -> set[str]:
    names: set[str] = set()
    for collector in list(REGISTRY._collector_to_names):  # noqa: SLF001 - the registry's own index
        for metric in getattr(collector, "describe", lambda: [])() or collector.collect():
            names.add(metric.name)
            names.update(f"{metric.name}{s}" for s in ("_total", "_bucket", "_count", "_sum"))
    names.update({"b24sync_queue_depth", "b24sync_queue_oldest_pending_age_seconds", "b24sync_parked_open"})
    return names


def test_alert_rules_and_dashboard_name_only_exported_metrics() -> None:
    rules = YAML(typ="safe").load((DEPLOY / "prometheus" / "b24sync-alerts.yml").read_text(encoding="utf-8"))
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    dash = json.loads((DEPLOY / "grafana" / "dashboards" / "b24sync.json").read_text(encoding="utf-8"))
    exprs += [t["expr"] for p in dash["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"\bb24sync_[a-z_]+", e)}
    assert used and used <= _exported(), used - _exported()
    for f in (DEPLOY / "grafana" / "provisioning").rglob("*.yml"):
        assert YAML(typ="safe").load(f.read_text(encoding="utf-8"))["apiVersion"] == 1
    unit = (DEPLOY / "b24sync.service").read_text(encoding="utf-8")
    assert "ExecStart=" in unit and "b24sync run" in unit and "EnvironmentFile=" in unit
