from scripts.harness import evaluate


def test_minimal_plans(plan_of, base_platform):
    plan = plan_of(base_platform)
    assert plan.stack == "test"
    assert plan.one("meridian:index:Platform", "testproj")
