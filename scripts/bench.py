"""`meridian bench`: how evaluation cost grows with the platform, against a floor of bare registrations.

For each size N the benchmark builds a synthetic spec of N clusters spread over OpenStack
and AWS sites, every backend and every add-on the platform offers (each cluster has a
CPU and a GPU pool), and evaluates the real `__main__.py` with the offline engine. The
floor registers the same resources (same types, names and inputs) bare, through the same
SDK, mock monitor and recorder, with no components, spec or Outputs in between
(`bench_floor.py`): the ratio says what Meridian itself costs on top of Pulumi's own
per-resource work.

Each measurement runs in a fresh interpreter (peak memory is a process-wide high-water
mark), with imports done before the clock starts.
"""

from __future__ import annotations

import atexit
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from components.spec.addons import AddonsSpec

from .harness import PROGRAM, Plan, evaluate, load_plan, write_plan
from .stackfile import PROJECT, StackConfig

SIZES = (1, 10, 50, 100)
FLOOR_PROGRAM = Path(__file__).with_name("bench_floor.py")
CLUSTERS_PER_SITE = 8
#: Every add-on of a cluster's spec (its settings besides: how they are delivered, direct here).
ADDONS = tuple(name for name in AddonsSpec.model_fields if name != "delivery")
WORKER = "import sys; from scripts.bench import main; sys.exit(main(sys.argv[1:]))"
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFwd6oICq9AtXBvygotknHau8mmMqeeWpgCLyTRnRG6S bench"


def synthetic_platform(clusters: int) -> dict[str, Any]:
    """A valid platform with `clusters` clusters: rke2, magnum and capi on OpenStack sites, eks on AWS sites.

    Every cluster has a CPU pool and a GPU pool; GPU pools cycle through MIG, time-slicing
    and whole GPUs so every GPU Operator path is exercised. Every add-on the spec offers is
    switched on (read from the spec model, so an add-on that lands joins the benchmark).
    """
    sites: dict[str, Any] = {}
    specs: dict[str, Any] = {}
    for index in range(clusters):
        # Every fourth cluster is built by Cluster API from the rke2 cluster three before it.
        backend = ("rke2", "eks", "magnum", "capi")[index % 4]
        kind = "aws" if backend == "eks" else "openstack"
        site = f"{kind}-{index // CLUSTERS_PER_SITE}"
        if site not in sites:
            octet = len(sites)
            sites[site] = {
                "cidr": f"10.{octet}.0.0/16",
                "admin_cidrs": ["192.0.2.0/24"],
                "dns": {"domain": f"{site}.bench.example.org"},
                **(
                    {
                        "aws": {
                            "account_id": "111122223333",
                            "region": "eu-west-1",
                            "availability_zones": ["eu-west-1a", "eu-west-1b", "eu-west-1c"],
                        }
                    }
                    if kind == "aws"
                    else {
                        "openstack": {
                            "cloud": site,
                            "region": "RegionOne",
                            "external_network": "public",
                            "cluster_credential": {
                                "auth_url": f"https://keystone.{site}.example:5000/v3",
                                "id": "3c5e7a9b1d2f4e6a8c0b2d4f6a8c0e13",
                                "secret": f"vault:kv/bench/openstack/{site}#cluster_credential_secret",
                            },
                            "ssh_public_key": SSH_KEY,
                            "magnum_management_cidrs": ["192.0.2.248/29"],
                        }
                    }
                ),
            }
        # EKS: 8-GPU instances that scale to zero, single-strategy MIG; OpenStack: 1-GPU
        # flavors, mixed-strategy MIG. Sharing cycles MIG, time-slicing, whole GPUs.
        aws_site = backend == "eks"
        mig = (
            {"strategy": "single", "profile": "all-1g.10gb"}
            if aws_site
            else {"strategy": "mixed", "profile": "all-balanced"}
        )
        sharing: dict[str, Any] = (
            {"sharing": "mig", "mig": mig},
            {"sharing": "time-sliced", "time_slicing": {"replicas": 4}},
            {},
        )[index % 3]
        gpu: dict[str, Any] = {"model": "A100-80GB", "count": 8 if aws_site else 1} | sharing
        gpu_pool = {
            "flavor": "p4de.24xlarge" if aws_site else "vm.a100.1gpu",
            "min_size": 0 if aws_site else 1,
            "max_size": 2,
            "gpu": gpu,
        }
        cpu_flavor = "m6i.2xlarge" if aws_site else "m1.xlarge"
        cluster: dict[str, Any] = {
            "site": site,
            "backend": backend,
            "version": {"rke2": "1.33", "eks": "1.34", "magnum": "1.34", "capi": "1.34"}[backend],
            "node_pools": {"cpu": {"flavor": cpu_flavor, "min_size": 2, "max_size": 4}, "gpu": gpu_pool},
        }
        if backend in ("rke2", "magnum", "capi"):
            cluster["control_plane"] = {"count": 3, "flavor": "m1.large"}
        if backend in ("magnum", "capi"):
            cluster["image"] = "ubuntu-2404-kube-v1.34.7"
        if backend == "capi":
            cluster["management_cluster"] = f"c{index - 3:03d}"
        cluster["addons"] = addon_settings(sites[site]["dns"]["domain"], f"c{index:03d}", gpu)
        specs[f"c{index:03d}"] = cluster
    # Central observability on the first cluster; every cluster's collector ships to it.
    central_domain = sites[specs["c000"]["site"]]["dns"]["domain"]
    return {
        "project": {"name": "bench", "owner": "bench@example.org", "cost_centre": "BENCH-1"},
        "sites": sites,
        "clusters": specs,
        "observability": {
            "central": {
                "cluster": "c000",
                "grafana_hostname": f"grafana.{central_domain}",
                "metrics_hostname": f"metrics.{central_domain}",
                "logs_hostname": f"logs.{central_domain}",
                "login": {
                    "kind": "github",
                    "client_id": "bench-grafana",
                    "client_secret": "vault:kv/bench/grafana#client_secret",
                    "allowed_organizations": ["bench-org"],
                    "admin_users": ["bench-admin"],
                },
            },
            "push_password": "vault:kv/bench/observability#push_password",
            "receivers": {"ops": {"kind": "webhook", "url": "vault:kv/bench/observability#webhook_url"}},
        },
    }


def addon_settings(domain: str, cluster: str, gpu: dict[str, Any]) -> dict[str, Any]:
    """Every add-on on, the hub (and the ingress it publishes through) on every backend.

    Add-ons with settings of their own get a complete, valid set; new add-ons join as
    `{enabled: true}` until they need more.
    """
    settings: dict[str, Any] = {addon: {"enabled": True} for addon in ADDONS}
    # A mixed-strategy MIG pool offers several slice sizes: the profile names one.
    slice_ = {"slice": "1g.10gb"} if (gpu.get("mig") or {}).get("strategy") == "mixed" else {}
    settings["ingress"] = {
        "enabled": True,
        "allowed_sources": ["0.0.0.0/0"],
        "acme": {"email": "bench@example.org", "environment": "staging"},
    }
    settings["jupyterhub"] = {
        "enabled": True,
        "hostname": f"hub-{cluster}.{domain}",
        "authenticator": {
            "kind": "github",
            "client_id": "bench",
            "client_secret": "vault:kv/bench/jupyterhub#client_secret",
            "allowed_organizations": ["bench-org"],
            "admin_users": ["bench-admin"],
        },
        "profiles": {
            "cpu": {"display_name": "CPU", "cpu": 2, "memory_gb": 8, "default": True},
            "gpu": {"display_name": "GPU", "cpu": 4, "memory_gb": 16, "gpu": {"pool": "gpu", "count": 1} | slice_},
        },
    }
    return settings


def _platform_config(clusters: int) -> StackConfig:
    return StackConfig(
        stack="bench", path=Path("bench"), config={f"{PROJECT}:platform": json.dumps(synthetic_platform(clusters))}
    )


#: The plans the floor replays, by file, parsed before the clock starts: reading a
#: plan document is the benchmark's own work, not Pulumi's (`bench_floor.py` reads these).
FLOOR_PLANS: dict[str, Plan] = {}


def floor_plan(path: str) -> Plan:
    """The plan the floor program replays (parsed once, before the measured run)."""
    if path not in FLOOR_PLANS:
        FLOOR_PLANS[path] = load_plan(Path(path))
    return FLOOR_PLANS[path]


def floor_config(plan: Plan, directory: Path) -> StackConfig:
    """Config for the floor program replaying `plan` (written to, and read back from, `directory`)."""
    plan_file = directory / f"plan-{len(FLOOR_PLANS)}.json"
    write_plan(plan, plan_file)
    floor_plan(str(plan_file))
    return StackConfig(stack="bench", path=Path("bench"), config={"bench:plan": str(plan_file)})


def _measure(kind: str, clusters: int) -> dict[str, Any]:
    """Run in the worker process: evaluate once warm, report time, peak memory and resource count."""
    # Warm-up run: the provider SDKs load their submodules lazily on first use, and that
    # import cost is neither Meridian's nor Pulumi's per-resource work.
    warm = evaluate("bench", config=_platform_config(min(clusters, 4)))
    if kind == "platform":
        program, config = PROGRAM, _platform_config(clusters)
    else:
        # The floor replays the platform's own plan (evaluated before the clock starts).
        scratch = Path(tempfile.mkdtemp(prefix="meridian-bench-"))
        atexit.register(shutil.rmtree, scratch, ignore_errors=True)
        program, config = FLOOR_PROGRAM, floor_config(evaluate("bench", config=_platform_config(clusters)), scratch)
        evaluate("bench", program=program, config=floor_config(warm, scratch))
    # CPU seconds of the whole process (every engine thread included) are the measure: on
    # shared two-core machines wall time says more about the neighbours than about us.
    wall, cpu = time.perf_counter(), time.process_time()
    plan = evaluate("bench", program=program, config=config)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"resources": len(plan.resources), "seconds": cpu, "wall_seconds": wall, "peak_mb": peak_kb / 1024}


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (helm runs as a child)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _measure_stacks() -> list[dict[str, Any]]:
    """Plan, render and validate every bundled stack in this fresh process, with an empty render cache."""
    from . import render as render_module
    from .harness import bundled_stacks

    scratch = Path(tempfile.mkdtemp(prefix="meridian-bench-render-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    render_module.RENDER_CACHE = scratch
    stacks = bundled_stacks()
    evaluate(stacks[0])  # warm-up: the provider SDKs' lazy imports are nobody's per-stack cost
    rows = []
    for stack in stacks:
        start = _cpu()
        plan = evaluate(stack, reveal_secrets=True)
        planned = _cpu()
        renders = render_module.render_plan(plan, plan, stack)
        rendered = _cpu()
        objects = 0
        for item, _ in render_module.validate_all(plan, renders):
            objects += len(item.objects) + len(item.patches if isinstance(item, render_module.OwnObjects) else [])
        validated = _cpu()
        rows.append(
            {
                "stack": stack,
                "releases": len(renders),
                "objects": objects,
                "plan_seconds": round(planned - start, 3),
                "render_seconds": round(rendered - planned, 3),
                "validate_seconds": round(validated - rendered, 3),
            }
        )
    return rows


def run_stacks() -> list[dict[str, Any]]:
    """Per bundled stack: CPU seconds to plan, render (helm template) and validate, in a fresh process."""
    done = subprocess.run(  # noqa: S603 - our own interpreter and module, fixed arguments
        [sys.executable, "-c", WORKER, "--stacks"], check=False, capture_output=True, text=True
    )
    if done.returncode != 0:
        last = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise BenchError(f"the render benchmark failed:\n{last}")
    rows: list[dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    return rows


def render_stacks(rows: list[dict[str, Any]]) -> str:
    """The render benchmark as a Markdown table."""
    lines = [
        "| stack | releases | objects | plan s | render s | validate s | total s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        total = r["plan_seconds"] + r["render_seconds"] + r["validate_seconds"]
        lines.append(
            f"| {r['stack']} | {r['releases']} | {r['objects']} | {r['plan_seconds']:.2f} | "
            f"{r['render_seconds']:.2f} | {r['validate_seconds']:.2f} | {total:.2f} |"
        )
    return "\n".join(lines)


class BenchError(Exception):
    """A measurement run failed; the message carries the worker's last words."""


def _worker(kind: str, clusters: int) -> dict[str, Any]:
    done = subprocess.run(  # noqa: S603 - our own interpreter and module, fixed arguments
        # `-c`, not `-m`: the floor program imports this module, which must not be `__main__` twice over.
        [sys.executable, "-c", WORKER, "--worker", kind, str(clusters)],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    if done.returncode != 0:
        last = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise BenchError(f"{kind} run with {clusters} clusters failed:\n{last}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run(sizes: tuple[int, ...] = SIZES, repeat: int = 3) -> list[dict[str, Any]]:
    """Measure every size (best of `repeat` runs each, platform and floor); return the rows."""
    rows = []
    for clusters in sizes:
        platform = min((_worker("platform", clusters) for _ in range(repeat)), key=lambda r: r["seconds"])
        floor = min((_worker("floor", clusters) for _ in range(repeat)), key=lambda r: r["seconds"])
        rows.append(
            {
                "clusters": clusters,
                "resources": platform["resources"],
                "seconds": round(platform["seconds"], 3),
                "wall_seconds": round(platform["wall_seconds"], 3),
                "peak_mb": round(platform["peak_mb"], 1),
                "per_resource_ms": round(1000 * platform["seconds"] / platform["resources"], 3),
                "floor_seconds": round(floor["seconds"], 3),
                "floor_ratio": round(platform["seconds"] / floor["seconds"], 3),
            }
        )
    return rows


def import_seconds(module: str) -> float:
    """Wall time of importing `module` in a fresh interpreter (best of five)."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    return min(
        float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)  # noqa: S603
        for _ in range(5)
    )


def suite_seconds() -> float:
    """Wall time of the whole test suite as `make test` runs it (pytest, two workers)."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "-q", "-p", "no:cacheprovider"],
        check=True,
        capture_output=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    return time.perf_counter() - start


def render(rows: list[dict[str, Any]]) -> str:
    """The results as a Markdown table (the README keeps one)."""
    lines = [
        "| clusters | resources | seconds | peak MB | ms / resource | floor seconds | ratio to floor |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {r['clusters']} | {r['resources']} | {r['seconds']:.2f} | {r['peak_mb']:.0f} | "
        f"{r['per_resource_ms']:.2f} | {r['floor_seconds']:.2f} | {r['floor_ratio']:.2f} |"
        for r in rows
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Worker entry point (`python -c WORKER --worker KIND CLUSTERS`)."""
    if argv[:1] == ["--worker"]:
        print(json.dumps(_measure(argv[1], int(argv[2]))))
        return 0
    if argv[:1] == ["--stacks"]:
        print(json.dumps(_measure_stacks()))
        return 0
    print("usage: meridian bench [--json] [--sizes 1,10,50,100]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
