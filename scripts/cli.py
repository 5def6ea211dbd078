"""`meridian`: the offline engine's command line (plan, diff, gate, render, bench, schema).

Exit codes: 0 success, 1 a check failed, 2 bad input (stack file or spec), named with
its file and key path and printed without a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BAD_INPUT = 2


def _plan(args: argparse.Namespace) -> int:
    from components.spec import SpecError

    from .harness import evaluate, write_plan
    from .stackfile import StackFileError

    try:
        plan = evaluate(args.stack, vault=args.vault, strict=args.strict)
    except (StackFileError, SpecError) as error:
        print(f"error: {error}", file=sys.stderr)
        return BAD_INPUT
    for warning in plan.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(render_tree(plan.resources, plan.reads))
    if args.json:
        write_plan(plan, Path(args.json))
        print(f"plan written to {args.json}")
    if args.urns:
        Path(args.urns).write_text("".join(f"{urn}\n" for urn in plan.urns()), encoding="utf-8")
        print(f"URNs written to {args.urns}")
    return 0


def render_tree(resources: list[dict[str, Any]], reads: Sequence[dict[str, Any]] = ()) -> str:
    """The resource tree as `pulumi preview` draws it, with a count; reads of existing resources marked `>`."""
    children: dict[str | None, list[tuple[str, dict[str, Any]]]] = {}
    for resource in resources:
        children.setdefault(resource["parent"], []).append(("+", resource))
    for read in reads:
        children.setdefault(read["parent"], []).append((">", read))
    rows: list[tuple[str, str, str]] = []

    def visit(parent: str | None, indent: str) -> None:
        kids = children.get(parent, [])
        for index, (op, resource) in enumerate(kids):
            last = index == len(kids) - 1
            branch = "" if parent is None else ("└─ " if last else "├─ ")
            rows.append(
                (op, f"{indent}{branch}{resource['type']}", resource["name"] + (" (read)" if op == ">" else ""))
            )
            visit(resource["urn"], indent + ("" if parent is None else ("   " if last else "│  ")))

    visit(None, "")
    width = max((len(kind) for _, kind, _ in rows), default=4) + 2
    lines = [f" +  {'Type'.ljust(width)}Name"] + [f" {op}  {kind.ljust(width)}{name}" for op, kind, name in rows]
    lines.append(f"\nResources:\n    + {len(resources)} to create")
    if reads:
        lines.append(f"    > {len(reads)} to read")
    return "\n".join(lines)


def _diff(args: argparse.Namespace) -> int:
    from components.spec import SpecError

    from .diff import DiffError, diff_plans, render
    from .harness import Plan, PlanFileError, evaluate, load_plan
    from .stackfile import StackFileError

    def plan_of(source: str) -> Plan:
        # Rendering needs the secret values' types (placeholders of the right type), so a stack
        # evaluated here keeps them; the diff itself reads only the redacted resources.
        return load_plan(Path(source)) if source.endswith(".json") else evaluate(source, reveal_secrets=args.render)

    try:
        base, head = plan_of(args.base), plan_of(args.head)
        result = diff_plans(base, head)
        objects = _rendered_objects(args, base, head) if args.render else []
    except (StackFileError, SpecError, DiffError, PlanFileError) as error:
        print(f"error: {error}", file=sys.stderr)
        return BAD_INPUT
    form = "json" if args.json else args.format
    if form == "json":
        print(json.dumps(result.to_json(), indent=2, sort_keys=True))
    elif form == "markdown":
        from .diffreport import markdown, new_violations

        violations = []
        if not args.no_policies:
            from .gate import GateError, running_pack

            try:
                with running_pack() as analyzer:
                    analyzer.configure(None)
                    before, after = analyzer.analyze(base), analyzer.analyze(head)
            except GateError as error:
                print(f"error: {error}", file=sys.stderr)
                return BAD_INPUT
            violations = new_violations(before.violations, after.violations, result.moved)
        print(markdown(result, base, head, violations, objects))
    else:
        print(render(result))
    return 1 if args.exit_code and result.changes else 0


def _rendered_objects(args: argparse.Namespace, base: Any, head: Any) -> list[Any]:
    """What the releases' rendered objects change (`meridian diff --render`); DiffError when a side cannot render."""
    from .diff import DiffError
    from .objectdiff import manifests_from_dir, manifests_from_rendered, object_changes, release_namespaces
    from .render import RenderError, render_plan

    def manifests(source: str, plan: Any, directory: str | None) -> dict[str, str]:
        if directory is not None:
            return manifests_from_dir(Path(directory))
        if source.endswith(".json"):
            raise DiffError(
                f"{source}: a plan file cannot be rendered (its secrets' types are gone): pass its "
                "manifests (`meridian render STACK --out DIR` where it was planned) as --base-manifests"
            )
        try:
            return manifests_from_rendered(render_plan(plan, plan, source))
        except RenderError as error:
            raise DiffError(str(error)) from None

    before, after = manifests(args.base, base, args.base_manifests), manifests(args.head, head, None)
    return object_changes(before, after, release_namespaces(head, base))


def _changed_stacks(args: argparse.Namespace) -> int:
    from .ci import ChangedStacksError, stacks_since

    try:
        stacks = stacks_since(args.base, fallback_all=args.fallback_all, deploy=args.deploy)
    except ChangedStacksError as error:
        print(f"error: {error}", file=sys.stderr)
        return BAD_INPUT
    print(json.dumps(stacks) if args.json else "\n".join(stacks))
    return 0


def _fit_comment(args: argparse.Namespace) -> int:
    from .diffreport import CUT_NOTE, FitError, fit

    try:
        text = Path(args.report).read_text(encoding="utf-8")
        print(fit(text, args.max_chars, args.note or CUT_NOTE), end="")
    except OSError as error:
        print(f"error: {args.report}: {error.strerror}", file=sys.stderr)
        return BAD_INPUT
    except FitError as error:
        print(f"error: --max-chars: {error}", file=sys.stderr)
        return BAD_INPUT
    return 0


def _gitlab_jobs(args: argparse.Namespace) -> int:
    import os

    from .ci import ChangedStacksError, gitlab_jobs, stacks_since

    try:
        deploy = args.mode == "deploy"
        stacks = stacks_since(args.base, fallback_all=deploy, deploy=deploy)
    except ChangedStacksError as error:
        print(f"error: {error}", file=sys.stderr)
        return BAD_INPUT
    # What the child pipeline's jobs need and GitLab does not pass to it.
    variables = {"BASE": args.base}
    if args.mode == "review":
        variables["MR_IID"] = os.environ.get("CI_MERGE_REQUEST_IID", "")
    print(gitlab_jobs(args.mode, stacks, variables), end="")
    return 0


def _schema(args: argparse.Namespace) -> int:
    from components.spec import PlatformSpec

    from .harness import STACKS

    target = Path(args.output) if args.output else STACKS / "platform.schema.json"
    schema = stack_file_schema(PlatformSpec.model_json_schema(ref_template="#/$defs/{model}"))
    text = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    if args.check:
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current != text:
            print(f"{target} is out of date: run `meridian schema`", file=sys.stderr)
            return 1
        print(f"{target} is up to date")
        return 0
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target}")
    return 0


def _gate(args: argparse.Namespace) -> int:
    from components.spec import SpecError

    from .gate import GateError, gate, render
    from .harness import PlanFileError, display_path, evaluate, load_plan, resolve_stack
    from .stackfile import StackFileError

    try:
        plan = load_plan(Path(args.plan)) if args.plan else evaluate(args.stack, reveal_secrets=args.render)
        config = json.loads(Path(args.policy_config).read_text(encoding="utf-8")) if args.policy_config else None
        if args.render:
            # What the charts deploy is policed like the program's own objects.
            from .render import RenderError, as_resources, render_plan

            where = args.plan or display_path(resolve_stack(args.stack))
            try:
                plan = as_resources(plan, render_plan(plan, plan if plan.revealed else None, where))
            except RenderError as error:
                print(f"error: {error}", file=sys.stderr)
                return BAD_INPUT
    except (StackFileError, SpecError, PlanFileError, OSError, json.JSONDecodeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return BAD_INPUT
    try:
        report = gate(plan, config)
    except GateError as error:
        print(f"error: {error}", file=sys.stderr)
        return BAD_INPUT
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(render(report, plan))
    return 1 if report.mandatory else 0


def _render(args: argparse.Namespace) -> int:
    from components.spec import SpecError

    from .harness import display_path, evaluate, resolve_stack
    from .render import OwnObjects, RenderError, manifest_name, render_plan, validate_all
    from .stackfile import StackFileError

    where = display_path(resolve_stack(args.stack))
    try:
        # Secrets are revealed only to give their placeholders the right type; none is written.
        plan = evaluate(args.stack, reveal_secrets=True)
        rendered = render_plan(plan, plan, where)
    except (StackFileError, SpecError, RenderError) as error:
        print(f"error: {error}", file=sys.stderr)
        return BAD_INPUT
    out = Path(args.out) if args.out else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    failed = 0
    for item, problems in validate_all(plan, rendered):
        failed += len(problems)
        verdict = "valid" if not problems else f"{len(problems)} invalid"
        if isinstance(item, OwnObjects):
            count = len(item.objects + item.patches)
            print(f"{item.cluster}/own objects (Kubernetes {item.kube_version}): {count}, {verdict}")
        elif item.skipped is not None:
            print(f"{item.release.cluster}/{item.release.resource}: {item.skipped}")
        else:
            release = item.release
            if out is not None:
                (out / manifest_name(item)).write_text(item.manifest, encoding="utf-8")
            print(
                f"{release.cluster}/{release.resource}: {release.chart} {release.version} "
                f"(Kubernetes {release.kube_version}): {len(item.objects)} objects, {verdict}"
            )
        for problem in problems:
            print(f"  {problem}")
    if out is not None:
        print(f"manifests written to {out}")
    skipped = sum(1 for item in rendered if item.skipped is not None)
    print(f"{len(rendered) - skipped} releases rendered, {skipped} not rendered, {failed} invalid objects")
    return 1 if failed else 0


def _bench(args: argparse.Namespace) -> int:
    from .bench import BenchError, import_seconds, render, run

    try:
        rows = run(args.sizes, repeat=args.repeat)
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([{key: row[key] for key in BENCH_FIELDS} for row in rows]))
        return 0
    print(render(rows))
    imports = {module: import_seconds(module) for module in ("components", "components.platform")}
    for module, seconds in imports.items():
        print(f"import {module}: {seconds * 1000:.0f} ms")
    by_size = {row["clusters"]: row for row in rows}
    verdicts = [("import components under 300 ms", imports["components"] < 0.3)]
    if args.suite:
        from .bench import suite_seconds

        suite = suite_seconds()
        print(f"test suite (pytest -n 2): {suite:.1f} s")
        verdicts.append(("whole test suite under 90 s on 2 cores", suite < 90))
    if args.render:
        from .bench import render_stacks, run_stacks

        try:
            stacks = run_stacks()
        except BenchError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        print(render_stacks(stacks))
        total = sum(r["plan_seconds"] + r["render_seconds"] + r["validate_seconds"] for r in stacks)
        verdicts.append(
            (f"plan + render + validate of every bundled stack under 30 CPU s (is {total:.1f})", total < 30)
        )
    if 100 in by_size:
        verdicts.append(("ratio to the floor at 100 clusters <= 1.3", by_size[100]["floor_ratio"] <= 1.3))
    if 10 in by_size and 100 in by_size:
        growth = by_size[100]["per_resource_ms"] / by_size[10]["per_resource_ms"]
        verdicts.append((f"per-resource cost at 100 within 1.2x of 10 (is {growth:.2f}x)", growth <= 1.2))
    for text, ok in verdicts:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    return 1 if args.check and not all(ok for _, ok in verdicts) else 0


def _positive(text: str) -> int:
    value = int(text) if text.isdigit() else 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


def _sizes(text: str) -> tuple[int, ...]:
    return tuple(_positive(size.strip()) for size in text.split(","))


BENCH_FIELDS = ("clusters", "resources", "seconds", "peak_mb", "per_resource_ms", "floor_ratio")


def stack_file_schema(platform: dict[str, Any]) -> dict[str, Any]:
    """Wrap the spec's schema into a schema of a whole stack file, so editors check `Pulumi.<stack>.yaml`."""
    definitions = platform.pop("$defs", {})
    definitions["PlatformSpec"] = platform
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Meridian stack file (stacks/Pulumi.<stack>.yaml)",
        "type": "object",
        "properties": {
            "config": {
                "type": "object",
                "description": "Stack config; Meridian reads the whole platform from meridian:platform.",
                "properties": {
                    "meridian:platform": {"$ref": "#/$defs/PlatformSpec"},
                    "pulumi:disable-default-providers": {
                        "description": "Packages whose ambient default provider the engine refuses ('*': all). "
                        "Meridian's stacks list aws, openstack and kubernetes.",
                        "type": "array",
                        "items": {"type": "string", "minLength": 1},
                    },
                },
                "required": ["meridian:platform"],
            },
            "secretsprovider": {"type": "string"},
            "encryptedkey": {"type": "string"},
            "encryptionsalt": {"type": "string"},
            "environment": {},
        },
        "required": ["config"],
        "additionalProperties": False,
        "$defs": definitions,
    }


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `meridian`."""
    parser = argparse.ArgumentParser(prog="meridian", description="Meridian's offline engine.")
    sub = parser.add_subparsers(dest="command", required=True)

    plan = sub.add_parser("plan", help="evaluate a stack offline and show what preview would create")
    plan.add_argument("stack", help="bundled stack name (eo4eu) or path to a stack file")
    plan.add_argument("--json", metavar="FILE", help="also write the plan as JSON to FILE")
    plan.add_argument("--urns", metavar="FILE", help="also write the sorted URN list to FILE (golden files)")
    plan.add_argument(
        "--strict", action="store_true", help="warnings about the spec are errors (as `meridian:strict: true` does)"
    )
    plan.add_argument(
        "--vault",
        action="store_true",
        help="read vault: references from the real Vault at VAULT_ADDR (logged in as the stack's vault.auth says) "
        "instead of placeholders",
    )
    plan.set_defaults(func=_plan)

    diff = sub.add_parser("diff", help="what preview would change between two plans of a stack (for pull requests)")
    diff.add_argument("base", help="the plan before: a plan file (`meridian plan STACK --json FILE`) or a stack")
    diff.add_argument("head", help="the plan after: a plan file or a stack (bundled name or stack file)")
    diff.add_argument(
        "--format",
        choices=("text", "json", "markdown"),
        default="text",
        help="text (as `pulumi preview --diff`), json, or markdown (a pull request comment, at-risk changes first)",
    )
    diff.add_argument("--json", action="store_true", help="the same as --format json")
    diff.add_argument(
        "--render",
        action="store_true",
        help="markdown: also compare the objects every Helm release renders (the head must be a stack)",
    )
    diff.add_argument(
        "--base-manifests",
        metavar="DIR",
        help="with --render: the base's manifests (`meridian render STACK --out DIR` where the base was planned)",
    )
    diff.add_argument(
        "--no-policies",
        action="store_true",
        help="markdown: do not run the policy pack over both plans (no new-violation check)",
    )
    diff.add_argument("--exit-code", action="store_true", help="exit 1 when anything would change")
    diff.set_defaults(func=_diff)

    schema = sub.add_parser("schema", help="write the spec's JSON Schema to stacks/platform.schema.json")
    schema.add_argument("--output", metavar="FILE", help="write elsewhere")
    schema.add_argument("--check", action="store_true", help="fail if the file is not up to date")
    schema.set_defaults(func=_schema)
    gate = sub.add_parser("gate", help="run the policy pack over a stack's plan, as `pulumi preview` would")
    gate.add_argument("stack", nargs="?", help="bundled stack name or stack file (or use --plan)")
    gate.add_argument("--plan", metavar="FILE", help="a plan written by `meridian plan --json`")
    gate.add_argument("--policy-config", metavar="FILE", help="policy config JSON, as --policy-pack-config")
    gate.add_argument("--json", action="store_true", help="print the report as JSON")
    gate.add_argument(
        "--render", action="store_true", help="also police the objects each Helm release renders (meridian render)"
    )
    gate.set_defaults(func=_gate)

    render = sub.add_parser("render", help="helm template every release of a stack and validate what it creates")
    render.add_argument("stack", help="bundled stack name or stack file")
    render.add_argument("--out", metavar="DIR", help="write one manifest per release into DIR")
    render.set_defaults(func=_render)

    ci = sub.add_parser("ci", help="helpers for CI pipelines")
    ci_sub = ci.add_subparsers(dest="ci_command", required=True)
    changed = ci_sub.add_parser(
        "changed-stacks", help="the stacks a change since BASE affects (one per line), to fan pipelines out per stack"
    )
    changed.add_argument("base", help="the base revision (e.g. origin/main)")
    changed.add_argument("--json", action="store_true", help="print a JSON list")
    changed.add_argument(
        "--fallback-all",
        action="store_true",
        help="every stack when BASE names no commit of this clone (a first push, a force-push), instead of an error",
    )
    changed.add_argument(
        "--deploy",
        action="store_true",
        help="for a deploy: pipeline files affect no stack (in a review they affect every stack)",
    )
    changed.set_defaults(func=_changed_stacks)
    jobs = ci_sub.add_parser("gitlab-jobs", help="the GitLab child pipeline: review or deploy jobs per affected stack")
    jobs.add_argument("mode", choices=("review", "deploy"))
    jobs.add_argument("base", help="the revision the change is compared with")
    jobs.set_defaults(func=_gitlab_jobs)
    fitted = ci_sub.add_parser(
        "fit-comment", help="a Markdown report cut to a comment's size limit (fences and sections closed)"
    )
    fitted.add_argument("report", help="the report (`meridian diff --format markdown`)")
    fitted.add_argument(
        "--max-chars", type=_positive, required=True, help="the limit: 65536 on GitHub, 1000000 on GitLab"
    )
    fitted.add_argument("--note", help="the last line of a cut report: where the whole report is")
    fitted.set_defaults(func=_fit_comment)

    bench = sub.add_parser("bench", help="measure evaluation cost per platform size against a bare floor")
    bench.add_argument("--json", action="store_true", help="print the rows as a JSON list")
    bench.add_argument(
        "--sizes", type=_sizes, default=(1, 10, 50, 100), help="cluster counts, comma-separated (default 1,10,50,100)"
    )
    bench.add_argument("--repeat", type=_positive, default=3, help="runs per size; the fastest counts (default 3)")
    bench.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    bench.add_argument("--suite", action="store_true", help="also time the whole test suite (pytest -n 2)")
    bench.add_argument(
        "--render", action="store_true", help="also time plan, render and validation of every bundled stack"
    )
    bench.set_defaults(func=_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `meridian` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "gate" and not (args.stack or args.plan):
        parser.error("gate needs a STACK or --plan FILE")
    try:
        return int(args.func(args))
    except BrokenPipeError:  # `meridian plan x | head`: the reader left; that is not an error
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
