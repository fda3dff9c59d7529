"""Each service's edges (layers.toml): actix-web only in src/http/, tonic only in src/grpc/ and
src/upstream/, diesel only in src/store/, so domain code returns its own outcomes and errors and
each edge maps them. A file elsewhere that names one of those crates is an undeclared leak."""
import re
import shutil
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = Path(__file__).with_name("layers.toml")
SERVICES = ["auth-service", "product-service", "cart-service", "payment-service"]
# How code names each crate (a `use`, a path, a derive); comments are not read.
CRATES = {
    "actix": re.compile(r"\bactix_(web|http|rt|service)\b"),
    "tonic": re.compile(r"\btonic(_types|_health|_reflection|_prost)?\b"),
    "diesel": re.compile(r"\bdiesel(_async|_migrations)?\b"),
}


def crates_used(file: Path) -> set[str]:
    code = "\n".join(line for line in file.read_text().splitlines() if not line.lstrip().startswith("//"))
    return {name for name, pattern in CRATES.items() if pattern.search(code)}


def problems(root: Path) -> list[str]:
    """What breaks the layering under `root`, as sentences; empty when nothing does."""
    manifest = tomllib.loads(MANIFEST.read_text())
    declared = {}
    for exception in manifest["exception"]:
        assert exception["kind"] == "edge" and exception["why"].strip(), exception["path"]
        for service in exception["services"]:
            declared[(service, exception["path"], exception["crate"])] = exception["kind"]
    wrong, seen = [], set()
    for service in SERVICES:
        for file in sorted((root / service / "src").rglob("*.rs")):
            path = str(file.relative_to(root / service))
            for crate in sorted(crates_used(file)):
                if any(path.startswith(folder) for folder in manifest["allowed"][crate]):
                    continue
                seen.add((service, path, crate))
                if (service, path, crate) not in declared:
                    wrong.append(f"{service}/{path} uses {crate} outside {', '.join(manifest['allowed'][crate])}: "
                                 "move it behind that edge (or declare why in tests/repo/layers.toml)")
    wrong += [f"{service}/{path} is declared to use {crate} but no longer does: drop it from layers.toml"
              for (service, path, crate) in sorted(set(declared) - seen)]
    return wrong


def test_every_crate_of_an_edge_is_used_only_at_that_edge_or_declared():
    assert problems(ROOT) == []


def copy_sources(tmp_path: Path) -> None:
    for service in SERVICES:
        shutil.copytree(ROOT / service / "src", tmp_path / service / "src")


def test_the_check_fails_when_domain_code_imports_the_web_framework(tmp_path):
    copy_sources(tmp_path)
    checkout = tmp_path / "cart-service" / "src" / "checkout" / "mod.rs"
    checkout.write_text("use actix_web::HttpResponse;\n" + checkout.read_text())
    assert problems(tmp_path) == ["cart-service/src/checkout/mod.rs uses actix outside src/http/: move it behind that "
                                  "edge (or declare why in tests/repo/layers.toml)"]


def test_the_check_fails_when_a_declared_file_no_longer_needs_its_exception(tmp_path):
    copy_sources(tmp_path)
    declared = tomllib.loads(MANIFEST.read_text())["exception"][-1]
    service, path = declared["services"][0], declared["path"]
    (tmp_path / service / path).write_text("// what it did moved behind its edge\n")
    assert problems(tmp_path) == [f"{service}/{path} is declared to use {declared['crate']} but no longer does: "
                                  "drop it from layers.toml"]
