"""`make release VERSION=x.y.z` in a service moves the crate, its lockfile entry, the chart and
the changelog together (run on a copy of the service folder)."""
import re
import shutil
import subprocess

import pytest
import yaml

from conftest import ROOT, SERVICES


@pytest.mark.parametrize("service", SERVICES)
def test_release_updates_crate_chart_and_changelog_together(service, tmp_path):
    copy = tmp_path / service
    shutil.copytree(ROOT / service, copy, ignore=shutil.ignore_patterns("target"))
    result = subprocess.run(["make", "-s", "release", "VERSION=9.8.7"], cwd=copy, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"{service}-v9.8.7" in result.stdout
    assert re.search(r'^version = "9\.8\.7"$', (copy / "Cargo.toml").read_text(), re.M)
    lock = (copy / "Cargo.lock").read_text()
    assert f'name = "{service}"\nversion = "9.8.7"' in lock
    chart = yaml.safe_load((copy / "chart" / "Chart.yaml").read_text())
    assert (str(chart["version"]), str(chart["appVersion"])) == ("9.8.7", "9.8.7")
    changelog = (copy / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in changelog and "## [9.8.7] — " in changelog
    bad = subprocess.run(["make", "-s", "release", "VERSION=nine"], cwd=copy, capture_output=True, text=True)
    assert bad.returncode != 0 and "usage" in bad.stderr
