"""The provider contract: mocks accept any key, so every input in a plan is checked against the provider SDK.

The offline engine's mock monitor records whatever a registration carries; it would as happily
record `portRangeMinn` as `portRangeMin`. The real contract is the installed provider SDK:
its generated `_internal_init` takes exactly the resource's input properties (snake_case) and
its `@input_type` Args class holds the table between those names and the camelCase names the
SDK serializes. Here every input key of every custom resource in every plan is mapped through
that table and must land on an `_internal_init` parameter, and every required input is present.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pulumi_aws  # noqa: F401 - importing a provider SDK registers its type tokens
import pulumi_openstack
import pytest
from conftest import PlanCache

from scripts.harness import DISABLE_DEFAULT_PROVIDERS, DefaultProviderError, Plan, bundled_stacks, evaluate
from scripts.sdk import args_class, sdk_class, wire_to_python
from scripts.stackfile import StackFileError

BUNDLED = bundled_stacks()
#: Stack config for programs here that register bare resources: default providers allowed.
AMBIENT_PROVIDERS: dict[str, Any] = {DISABLE_DEFAULT_PROVIDERS: []}
SEC_GROUP_RULE = "openstack:networking/secGroupRule:SecGroupRule"


def required_inputs(cls: type) -> list[str]:
    """Python names of the inputs the Args class requires (keyword-only, no default)."""
    parameters = inspect.signature(args_class(cls).__init__).parameters.values()
    return [p.name for p in parameters if p.kind is p.KEYWORD_ONLY and p.default is p.empty]


def camel_to_snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def contract_violations(resources: Iterable[dict[str, Any]]) -> list[str]:
    """Inputs no SDK constructor would accept, and required inputs missing, for every custom resource."""
    problems = []
    for resource in resources:
        if not resource["custom"]:
            continue
        where = f"{resource['type']} {resource['name']}"
        try:
            cls = sdk_class(resource["type"], resource["version"])
        except (AssertionError, KeyError, ImportError, AttributeError) as error:
            problems.append(f"{where}: no provider SDK class for the type ({error})")
            continue
        table = wire_to_python(cls)
        parameters = inspect.signature(cls._internal_init).parameters
        for key in resource["inputs"]:
            python_name = table.get(key)
            if python_name is None:
                problems.append(f"{where}: {key!r} is not an input property of {cls.__module__}.{cls.__name__}")
            elif python_name not in parameters:
                problems.append(f"{where}: {key!r} ({python_name}) is not a parameter of {cls.__name__}")
        wire = {py: name for name, py in table.items()}
        for python_name in required_inputs(cls):
            if wire[python_name] not in resource["inputs"]:
                problems.append(f"{where}: required input {wire[python_name]!r} is missing")
    return problems


_MINIMAL: dict[str, Plan] = PlanCache()


@pytest.fixture
def plans(
    plan_of: Callable[..., Plan], base_platform: dict[str, Any], bundled_plan: Callable[[str], Plan]
) -> Callable[[str], Plan]:
    """The plan of a bundled stack, or of "minimal" (tests/specs/minimal.happy.yaml), evaluated once."""

    def get(which: str) -> Plan:
        if which != "minimal":
            return bundled_plan(which)
        if which not in _MINIMAL:
            _MINIMAL[which] = plan_of(base_platform)
        return _MINIMAL[which]

    return get


def test_name_tables_are_the_sdks(plans: Callable[[str], Plan]) -> None:
    plan = plans("minimal")
    rule = next(r for r in plan.resources if r["type"] == SEC_GROUP_RULE and "portRangeMin" in r["inputs"])
    table = wire_to_python(sdk_class(rule["type"], rule["version"]))
    ingress = next(r for r in plan.resources if r["type"].endswith("SecurityGroupIngressRule"))
    aws_table = wire_to_python(sdk_class(ingress["type"], ingress["version"]))
    provider = next(r for r in plan.resources if r["type"] == "pulumi:providers:aws")
    provider_table = wire_to_python(sdk_class(provider["type"], provider["version"]))
    checked = [
        (table, "remoteIpPrefix", "remote_ip_prefix"),
        (table, "portRangeMin", "port_range_min"),
        (table, "securityGroupId", "security_group_id"),
        (table, "ethertype", "ethertype"),
        (aws_table, "cidrIpv4", "cidr_ipv4"),
        (aws_table, "ipProtocol", "ip_protocol"),
        (provider_table, "allowedAccountIds", "allowed_account_ids"),
    ]
    for names, wire, python in checked:
        assert names[wire] == python
        assert camel_to_snake(wire) == python  # the plain conversion agrees on these
    assert "portRangeMinn" not in table


@pytest.mark.parametrize("which", ["minimal", *BUNDLED])
def test_every_input_is_an_sdk_input(plans: Callable[[str], Plan], which: str) -> None:
    plan = plans(which)
    custom = [r for r in plan.resources if r["custom"]]
    assert len(custom) > 10
    assert any(r["type"].startswith("pulumi:providers:") for r in custom)  # provider config is checked too
    assert contract_violations(custom) == []


def _program(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "program.py"
    path.write_text(body)
    return path


_RULE = (
    'openstack.networking.SecGroupRule("typo", direction="ingress", ethertype="IPv4", security_group_id="sg", '
    'protocol="tcp", {keyword}=22, port_range_max=22, remote_ip_prefix="192.0.2.0/24")\n'
)


def test_sdk_rejects_an_unknown_keyword_under_the_offline_engine(
    write_stack: Callable[..., Path], base_platform: dict[str, Any], tmp_path: Path
) -> None:
    stack = write_stack(base_platform, **AMBIENT_PROVIDERS)
    header = "import pulumi_openstack as openstack\n"

    good = evaluate(stack, program=_program(tmp_path, header + _RULE.format(keyword="port_range_min")))
    rule = next(r for r in good.resources if r["type"] == SEC_GROUP_RULE)
    assert rule["inputs"]["portRangeMin"] == 22  # the spelling the SDK serializes, which the table maps back
    assert wire_to_python(sdk_class(rule["type"], rule["version"]))["portRangeMin"] == "port_range_min"

    with pytest.raises(TypeError, match="unexpected keyword argument 'port_range_minn'"):
        evaluate(stack, program=_program(tmp_path, header + _RULE.format(keyword="port_range_minn")))
    parameters = inspect.signature(pulumi_openstack.networking.SecGroupRule._internal_init).parameters
    assert "port_range_min" in parameters and "port_range_minn" not in parameters


def test_mocks_accept_what_the_contract_check_refuses(
    write_stack: Callable[..., Path], base_platform: dict[str, Any], tmp_path: Path
) -> None:
    """A registration that bypasses the SDK class reaches the mocks unchecked; only the contract check sees it."""
    program = _program(
        tmp_path,
        "import pulumi\n"
        f'pulumi.CustomResource("{SEC_GROUP_RULE}", "raw", {{"direction": "ingress", "ethertype": "IPv4", '
        '"portRangeMinn": 22, "remoteIpPrefix": "192.0.2.0/24"})\n',
    )
    plan = evaluate(write_stack(base_platform, **AMBIENT_PROVIDERS), program=program)
    raw = [r for r in plan.resources if r["type"] == SEC_GROUP_RULE]
    assert raw and raw[0]["inputs"]["portRangeMinn"] == 22  # recorded as if it were fine
    assert contract_violations(raw) == [
        f"{SEC_GROUP_RULE} raw: 'portRangeMinn' is not an input property of "
        "pulumi_openstack.networking.sec_group_rule.SecGroupRule",
        f"{SEC_GROUP_RULE} raw: required input 'securityGroupId' is missing",
    ]


# -- default providers ----------------------------------------------------------------------------

_LOOKUP = 'openstack.images.get_image_output(name="ubuntu-24.04", most_recent=True{opts})\n'


def test_engine_refuses_default_providers_the_stack_disables(
    write_stack: Callable[..., Path], base_platform: dict[str, Any], tmp_path: Path
) -> None:
    header = "import pulumi\nimport pulumi_openstack as openstack\n"
    explicit = 'openstack.Provider("os", cloud="os-a")\n'
    lookup = _LOOKUP.format(opts="")
    with_provider = _LOOKUP.format(opts=", opts=pulumi.InvokeOutputOptions(provider=os_)")
    stack = write_stack(base_platform)  # the bundled stacks' setting: aws, openstack, kubernetes
    with pytest.raises(DefaultProviderError) as caught:
        evaluate(stack, program=_program(tmp_path, header + lookup))
    assert str(caught.value) == (
        "Invoke: Default provider for 'openstack' disabled. "
        "'openstack:images/getImage:getImage' must use an explicit provider."
    )
    with pytest.raises(DefaultProviderError, match=r"'urn:pulumi:test::meridian::openstack:.*::typo' must use"):
        evaluate(stack, program=_program(tmp_path, header + _RULE.format(keyword="port_range_min")))
    plan = evaluate(stack, program=_program(tmp_path, header + "os_ = " + explicit + with_provider))
    (call,) = plan.invokes
    assert call["token"] == "openstack:images/getImage:getImage" and call["args"]["mostRecent"] is True
    assert call["provider"].startswith("urn:pulumi:test::meridian::pulumi:providers:openstack::os::")
    # Local packages stay allowed, and "*" disables every package.
    local = 'import pulumi_random as random\nrandom.RandomPassword("p", length=32)\n'
    assert evaluate(stack, program=_program(tmp_path, local)).by_type("random:index/randomPassword:RandomPassword")
    everything = write_stack(base_platform, name="all", **{DISABLE_DEFAULT_PROVIDERS: ["*"]})
    with pytest.raises(DefaultProviderError, match="Default provider for 'random' disabled"):
        evaluate(everything, program=_program(tmp_path, local))
    # Without the setting the engine would use the ambient default provider.
    assert evaluate(
        write_stack(base_platform, name="ambient", **AMBIENT_PROVIDERS), program=_program(tmp_path, header + lookup)
    ).invokes


@pytest.mark.parametrize(
    ("value", "denied"),
    [("", set()), (None, set()), ([], set()), ([" aws ", "*"], {"aws", "*"}), (["openstack"], {"openstack"})],
)
def test_disable_default_providers_is_read_as_the_engine_reads_it(
    write_stack: Callable[..., Path], base_platform: dict[str, Any], value: Any, denied: set[str]
) -> None:
    # default_providers.go shouldDenyRequest: empty or null denies nothing; entries are trimmed.
    from scripts.harness import disabled_default_providers
    from scripts.stackfile import read_stack_file

    path = write_stack(base_platform, **{DISABLE_DEFAULT_PROVIDERS: value})
    assert disabled_default_providers(read_stack_file(path), "x") == denied


def test_remote_components_need_a_provider_too(
    write_stack: Callable[..., Path], base_platform: dict[str, Any], tmp_path: Path
) -> None:
    # source_eval.go: a multi-language component is served by its package's provider.
    program = 'import pulumi\npulumi.ComponentResource("kubernetes:helm.sh/v4:Chart", "c", {}, remote=True)\n'
    with pytest.raises(DefaultProviderError) as caught:
        evaluate(write_stack(base_platform), program=_program(tmp_path, program))
    assert str(caught.value) == (
        "Default provider for 'kubernetes' disabled. 'kubernetes:helm.sh/v4:Chart' must use an explicit provider."
    )


def test_disable_default_providers_must_be_a_list(
    write_stack: Callable[..., Path], base_platform: dict[str, Any]
) -> None:
    stack = write_stack(base_platform, **{DISABLE_DEFAULT_PROVIDERS: "aws"})
    with pytest.raises(
        StackFileError, match=r"Pulumi.test.yaml: config.pulumi:disable-default-providers: must be a list"
    ):
        evaluate(stack)


@pytest.mark.parametrize("stack", BUNDLED)
def test_bundled_stacks_disable_cloud_default_providers(stack: str, bundled_plan: Callable[[str], Plan]) -> None:
    from scripts.harness import disabled_default_providers, resolve_stack
    from scripts.stackfile import read_stack_file

    path = resolve_stack(stack)
    disabled = disabled_default_providers(read_stack_file(path), str(path))
    # Vault too where the stack writes credentials back (its provider must be the explicit one).
    writes_back = stack == "eo4eu"
    assert disabled == {"aws", "openstack", "kubernetes"} | ({"vault"} if writes_back else set())
    assert {r["type"] for r in bundled_plan(stack).resources} >= ({"pulumi:providers:vault"} if writes_back else set())
    # ... and every lookup names its provider (a refused one would have failed the plan).
    assert all(call["provider"] for call in bundled_plan(stack).invokes)
