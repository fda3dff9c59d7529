"""What the deployment checks know about the four services, read from the services themselves
(crate manifests, configuration sources, routes), so a check fails when a chart, the compose
file or a Dockerfile drifts from the code."""
import re
from functools import lru_cache
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ["auth-service", "product-service", "cart-service", "payment-service"]
PREFIX = {s: s.split("-")[0].upper() + "_" for s in SERVICES}


def crate_version(service: str) -> str:
    text = (ROOT / service / "Cargo.toml").read_text()
    return re.search(r'^version = "([^"]+)"', text, re.M).group(1)


def binary_name(service: str) -> str:
    text = (ROOT / service / "Cargo.toml").read_text()
    return re.search(r'\[\[bin\]\]\s*\nname = "([^"]+)"', text).group(1)


@lru_cache
def config_source(service: str) -> str:
    return (ROOT / service / "src" / "configuration.rs").read_text()


def settings_read(service: str) -> set[str]:
    """Every <PREFIX>* variable the service's configuration reads."""
    keys = re.findall(r'(?:env|self)\s*\.\s*\w+\(\s*"([A-Z0-9_]+)"', config_source(service))
    return {PREFIX[service] + k for k in keys}


def loopback_defaults(service: str) -> set[str]:
    """Every <PREFIX>* variable whose default names this machine (127.0.0.1, localhost): a remote
    dependency's address (a URL, a broker, a database) that a deployment must set."""
    source = config_source(service)
    consts = dict(re.findall(r'const ([A-Z_]+): &str = "([^"]*)"', source))
    found = set()
    for key, literal, const in re.findall(r'env\s*\.\s*\w+\(\s*"([A-Z0-9_]+)",\s*(?:"([^"]*)"|([A-Z_]+)\b)', source):
        default = literal or consts.get(const, "")
        if "127.0.0.1" in default or "localhost" in default:
            found.add(PREFIX[service] + key)
    return found


def default_port(service: str, key: str) -> int | None:
    match = re.search(rf'env\s*\.\s*parse\(\s*"{key}",\s*(\d+)', config_source(service))
    return int(match.group(1)) if match else None


def serves_route(service: str, path: str) -> bool:
    sources = "".join(p.read_text() for p in (ROOT / service / "src").rglob("*.rs"))
    return f'#[get("{path}")]' in sources


def has_subcommand(service: str, name: str) -> bool:
    return f'"{name}"' in (ROOT / service / "src" / "cli.rs").read_text()


def load_all(text: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def http_routes(service: str) -> set[str]:
    """Every path the service's REST API routes, whatever the method."""
    sources = "".join(p.read_text() for p in (ROOT / service / "src").rglob("*.rs"))
    return set(re.findall(r'#\[(?:get|post|put|patch|delete)\("([^"]+)"\)\]', sources))


def store_port(service: str) -> int:
    """The port of the service's store (its database or Redis), from the local default URL."""
    match = re.search(r'const LOCAL_(?:DATABASE|REDIS)_URL: &str = "[^"]*:(\d+)[/"]', config_source(service))
    return int(match.group(1))


def selects(selector: dict, labels: dict) -> bool:
    """Whether a Kubernetes label selector selects these labels (an empty selector selects all)."""
    if not all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e["key"], e["operator"], e.get("values") or []
        if not {"In": key in labels and labels[key] in values, "NotIn": labels.get(key) not in values,
                "Exists": key in labels, "DoesNotExist": key not in labels}[op]:
            return False
    return True


def pod_templates(docs: list[dict]) -> list[tuple[dict, dict]]:
    """(object, pod template) for every object that makes pods."""
    found = []
    for doc in docs:
        spec = doc.get("spec") or {}
        if doc["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}:
            found.append((doc, spec["template"]))
        elif doc["kind"] == "CronJob":
            found.append((doc, spec["jobTemplate"]["spec"]["template"]))
        elif doc["kind"] == "Pod":
            found.append((doc, doc))
    return found
