"""docker-compose.kafka.yml and deploy/otel-collector.yaml, checked offline (no Docker here):
the collector's pipelines name defined components, it forwards to the Jaeger service,
and qstream's OTLP/HTTP exporter really posts to the URL the README gives."""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import yaml

from qstream.config import check_otel_exporter

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.kafka.yml"
README_URL = "otlp:http://127.0.0.1:4318/v1/traces"


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def collector_config() -> dict[str, Any]:
    service = compose()["services"]["otel-collector"]
    (mount,) = service["volumes"]
    source, target = mount.split(":")[:2]
    assert service["command"] == [f"--config={target}"]
    return yaml.safe_load((REPO / source).read_text(encoding="utf-8"))


def host_ports(service: dict[str, Any]) -> set[int]:
    return {int(str(p).split(":")[0]) for p in service.get("ports", ())}


def test_compose_has_kafka_collector_and_jaeger() -> None:
    services = compose()["services"]
    assert {"kafka", "otel-collector", "jaeger"} <= set(services)
    assert services["otel-collector"]["image"].startswith("otel/opentelemetry-collector-contrib:")
    assert services["jaeger"]["image"].startswith("jaegertracing/all-in-one:")
    assert 4318 in host_ports(services["otel-collector"])  # what qstream's exporter reaches
    assert 16686 in host_ports(services["jaeger"])  # the UI


def test_collector_pipelines_use_defined_components() -> None:
    config = collector_config()
    pipelines = config["service"]["pipelines"]
    assert {"traces", "metrics"} <= set(pipelines)
    used: dict[str, set[str]] = {"receivers": set(), "processors": set(), "exporters": set()}
    for name, pipeline in pipelines.items():
        for section in used:
            for component in pipeline.get(section, ()):
                assert component in config[section], f"{name}: {section} {component} undefined"
                used[section].add(component)
        assert pipeline["receivers"] and pipeline["exporters"], name
    for section, names in used.items():
        assert set(config[section]) == names, f"{section} defined but unused"


def test_traces_reach_the_jaeger_service() -> None:
    config = collector_config()
    http_endpoint = config["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    assert http_endpoint.endswith(":4318")
    to_jaeger = [e for e in config["service"]["pipelines"]["traces"]["exporters"]
                 if e.startswith("otlp")]
    (exporter,) = to_jaeger
    host, port = config["exporters"][exporter]["endpoint"].split(":")
    assert host in compose()["services"]  # a service name of the compose network
    assert port == "4317"  # Jaeger's OTLP/gRPC receiver (COLLECTOR_OTLP_ENABLED)
    assert compose()["services"]["jaeger"]["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"


def test_readme_and_compose_give_the_exporter_setting_qstream_accepts() -> None:
    assert check_otel_exporter(README_URL) == README_URL
    assert f"QSTREAM_OTEL_EXPORTER={README_URL}" in COMPOSE.read_text(encoding="utf-8")
    assert f"QSTREAM_OTEL_EXPORTER={README_URL}" in (REPO / "README.md").read_text(
        encoding="utf-8")


def test_otlp_exporter_posts_to_the_url_as_given(tmp_path: Path) -> None:
    """``otlp:URL`` is used as the full endpoint (path included): a span goes to a local
    HTTP server at exactly ``/v1/traces`` as OTLP protobuf."""
    requests: list[tuple[str, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            requests.append((self.path, self.headers["Content-Type"]))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"otlp:http://127.0.0.1:{server.server_port}/v1/traces"
    script = ("from qstream.stream import tracing\n"
              f"tracing.configure({url!r}, 'qstream-test')\n"
              "with tracing.tracer().start_as_current_span('probe'):\n"
              "    pass\n"
              "tracing.shutdown()\n")
    try:
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              timeout=60)
    finally:
        server.shutdown()
    assert done.returncode == 0, done.stderr
    assert requests == [("/v1/traces", "application/x-protobuf")]
