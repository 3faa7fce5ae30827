"""The API server's own rules (components/kubernetes/api_rules.py) on the examples its
sources give: what the Go functions' error messages name as valid, and the edges they
test. The refusals, as users meet them, are rows of tests/config/test_bad_config.py."""

from __future__ import annotations

import pytest

from wandb_sweeps.kubernetes.api_rules import (
    TOTAL_ANNOTATION_SIZE_LIMIT,
    annotations_size,
    is_annotation_key,
    is_config_map_key,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_env_var_name,
    is_label_value,
    is_qualified_name,
    is_relaxed_env_var_name,
    toleration_problems,
)


@pytest.mark.parametrize(
    ("rule", "accepted", "refused"),
    [
        (is_dns1123_label, ["my-name", "123-abc", "a" * 63], ["", "Data_1", "a.b", "-a", "a-", "a" * 64]),
        (
            is_dns1123_subdomain,
            ["example.com", "a", "a-b.c-d", ".".join(["a" * 63] * 3) + ".ab"],
            ["", "a..b", "a.-b", "a-.b", ".a", "a.", "A.com", "a" * 254],
        ),
        (
            is_qualified_name,
            ["MyName", "my.name", "123-abc", "example.com/MyName", "a/" + "b" * 63],
            ["", "my name", "/a", "a/", "a/b/c", "acme..io/a", "Example.com/a", "a" * 64, "_a", "a_"],
        ),
        (
            is_label_value,
            ["", "MyValue", "my_value", "12345", "v" * 63],
            ["a b", "-a", "a-", "v" * 64, "a/b"],
        ),
        (
            is_env_var_name,
            ["my.env-name", "MY_ENV.NAME", "MyEnvName1", "_X", "-x", ".x"],
            ["", "A=B", "1GPU", "MY VAR", ".", "..", "..x", "é"],
        ),
        (is_relaxed_env_var_name, ["MY VAR", "1GPU", "a:b"], ["", "A=B", "é", "a\tb"]),
        (is_config_map_key, ["key.name", "KEY_NAME", "key-name", "1"], ["", ".", "..", "..x", "a b", "a/b"]),
        (is_annotation_key, ["Example.com/Owner", "owner", "a.b/c"], ["", "a..b/c", "a b"]),
    ],
    ids=lambda value: getattr(value, "__name__", ""),
)
def test_each_rule_accepts_what_kubernetes_accepts_and_refuses_the_rest(
    rule, accepted: list[str], refused: list[str]
) -> None:
    assert [v for v in accepted if not rule(v)] == []
    assert [v for v in refused if rule(v)] == []


def test_the_annotation_size_is_counted_in_bytes_keys_included() -> None:
    assert annotations_size({"a": "bc", "é": ""}) == 5
    assert TOTAL_ANNOTATION_SIZE_LIMIT == 262144


@pytest.mark.parametrize(
    ("toleration", "problems"),
    [
        ({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}, 0),
        ({"key": "spot", "value": "true"}, 0),  # no operator: Equal
        ({"operator": "Exists"}, 0),  # every taint: the API allows it (pod_security does not)
        ({"key": "n", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30}, 0),
        ({"key": "a b", "operator": "Lt", "value": "x y", "effect": "Never"}, 3),
    ],
)
def test_tolerations(toleration: dict, problems: int) -> None:
    assert len(toleration_problems(toleration)) == problems
