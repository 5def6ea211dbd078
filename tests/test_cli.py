"""The `meridian` command line, run as a user runs it: exit codes, stderr, the plan document."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

#: Runs the meridian command (or the benchmark) in subprocesses: end to end, and left out of
#: mutation runs, whose per-test attribution sees only this process (pyproject [tool.mutmut]).
pytestmark = pytest.mark.cli

REPO = Path(__file__).resolve().parent.parent
SPECS = Path(__file__).parent / "specs"
BAD_INPUT = 2
RESOURCE_KEYS = {
    "urn",
    "type",
    "name",
    "parent",
    "custom",
    "inputs",
    "secret_paths",
    "protect",
    "provider",
    "depends_on",
    "aliases",
}


def meridian(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m scripts.cli ...` from the repository root, as the console script runs it."""
    return subprocess.run(
        [sys.executable, "-m", "scripts.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _fixture(prefix: str) -> Path:
    (path,) = SPECS.glob(f"{prefix}.error.*.yaml")
    return path


@pytest.mark.parametrize(
    ("prefix", "where"),
    [
        pytest.param("yaml-syntax", "line 11, column 22: invalid YAML", id="yaml-syntax"),
        pytest.param(
            "unknown-nested-key", "meridian:platform.sites.os-a.openstack.flavour: unknown key", id="spec-field"
        ),
        pytest.param("overlap", "meridian:platform.sites.aws-b.cidr: 10.10.128.0/17 overlaps site", id="cross-field"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_no_traceback(prefix: str, where: str) -> None:
    fixture = _fixture(prefix)
    shown = fixture.relative_to(REPO).as_posix()
    result = meridian("plan", shown)
    assert result.returncode == BAD_INPUT, result.stderr
    assert result.stderr.startswith(f"error: {shown}: {where}"), result.stderr
    assert result.stderr.count("\n") == 1, "one error, on one line"
    assert result.stdout == "", "nothing is planned"
    assert "Traceback" not in result.stdout + result.stderr


def test_missing_stack_exits_2() -> None:
    result = meridian("plan", "no-such-stack")
    assert result.returncode == BAD_INPUT
    assert result.stderr.startswith("error: stacks/Pulumi.no-such-stack.yaml: cannot read the stack file")
    assert "Traceback" not in result.stdout + result.stderr


def test_plan_json_document(tmp_path: Path) -> None:
    target = tmp_path / "plan.json"
    result = meridian("plan", "eo4eu", "--json", str(target))
    assert result.returncode == 0, result.stderr
    assert f"plan written to {target}" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr

    document = json.loads(target.read_text())
    assert set(document) == {"project", "stack", "resources", "outputs"}
    assert document["project"] == "meridian"
    assert document["stack"] == "eo4eu"
    assert document["outputs"]["project"] == "eo4eu"
    resources = document["resources"]
    assert resources[0]["type"] == "pulumi:pulumi:Stack"
    assert f"+ {len(resources)} to create" in result.stdout
    urns = {resource["urn"] for resource in resources}
    assert len(urns) == len(resources)
    for resource in resources:
        assert set(resource) >= RESOURCE_KEYS, resource["urn"]
        stack_project, qualified_type, name = resource["urn"].rsplit("::", 2)
        assert stack_project == "urn:pulumi:eo4eu::meridian"
        assert qualified_type.split("$")[-1] == resource["type"]
        assert name == resource["name"]
        assert resource["parent"] is None or resource["parent"] in urns
        assert isinstance(resource["inputs"], dict)
        assert isinstance(resource["secret_paths"], list)
        assert isinstance(resource["depends_on"], list)
        assert isinstance(resource["aliases"], list)


def test_schema_is_up_to_date() -> None:
    script = Path(sys.executable).parent / "meridian"
    result = subprocess.run(
        [str(script), "schema", "--check"], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "is up to date" in result.stdout
