"""Files kept identical across services (copies.toml): the services share no crate, so a fix to
one copy (a JWKS check, a header limit, a metric label) must reach the others; this check fails
when one copy changes alone, and when a file appears in two services undeclared."""
import shutil
import tomllib
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = Path(__file__).with_name("copies.toml")
SERVICES = ["auth-service", "product-service", "cart-service", "payment-service"]


def problems(root: Path) -> list[str]:
    """What is wrong with the copies under `root`, as sentences; empty when nothing is."""
    manifest = tomllib.loads(MANIFEST.read_text())
    found = defaultdict(set)  # path under src/ -> the services that have it
    for service in SERVICES:
        for file in (root / service / "src").rglob("*.rs"):
            found[str(file.relative_to(root / service))].add(service)
    declared = defaultdict(set)
    wrong = []
    for group in manifest["identical"]:
        path, services = group["path"], group["services"]
        declared[path] |= set(services)
        texts = {service: (root / service / path).read_bytes() for service in services if (root / service / path).exists()}
        wrong += [f"{service}/{path} is declared a copy but is missing" for service in services if service not in texts]
        variants = defaultdict(list)
        for service, text in texts.items():
            variants[text].append(service)
        if len(variants) > 1:
            wrong.append(f"{path} differs between copies: " + " / ".join(", ".join(s) for s in variants.values()))
    for group in manifest["own"]:
        assert group["why"].strip(), f"{group['path']}: say why it is each service's own"
        declared[group["path"]] |= set(group["services"])
    for path, services in sorted(found.items()):
        if len(services) > 1 and services - declared[path]:
            wrong.append(f"{path} is in {sorted(services)} but copies.toml does not declare "
                         f"{sorted(services - declared[path])}: a copy ([[identical]]) or its own ([[own]])?")
    return wrong


def test_every_declared_copy_is_identical_and_every_shared_path_is_declared():
    assert problems(ROOT) == []


def test_the_check_fails_when_one_jwks_copy_changes_alone(tmp_path):
    for service in SERVICES:
        shutil.copytree(ROOT / service / "src", tmp_path / service / "src")
    assert problems(tmp_path) == []
    jwks = tmp_path / "cart-service/src/auth/jwks.rs"
    jwks.write_text(jwks.read_text().replace("fn ", "fn  ", 1))  # a one-character edit
    found = problems(tmp_path)
    assert len(found) == 1 and "src/auth/jwks.rs differs" in found[0] and "cart-service" in found[0], found


def test_a_new_file_in_two_services_must_be_declared(tmp_path):
    for service in SERVICES:
        shutil.copytree(ROOT / service / "src", tmp_path / service / "src")
    for service in ["auth-service", "cart-service"]:
        (tmp_path / service / "src/retry.rs").write_text("// the same helper, twice\n")
    assert any("src/retry.rs" in p and "does not declare" in p for p in problems(tmp_path))
