"""Each function its own environment (shop_local.functions): one process runs every function of
the template, and inside an invocation `os.environ` is that function's variables over the
process's, as each Lambda function has an environment of its own."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

from shop_local.functions import FunctionEnvironment, LocalFunctions, current_function
from shop_local.template import FunctionSpec

HANDLER = '''
import os

from shop_local.functions import current_function


def handler(event, context):
    """Reads (and maybe writes) its environment as a Lambda handler would."""
    if "wait" in event:
        event["wait"]()
    seen = {name: os.environ.get(name) for name in event.get("read", [])}
    for name, value in event.get("write", {}).items():
        os.environ[name] = value
    return {
        "running": current_function(),
        "seen": seen,
        "names": [name for name in os.environ if name.startswith("FE_")],
        "size_agrees": len(os.environ) == len(list(os.environ)),
        "copied": {k: v for k, v in os.environ.copy().items() if k.startswith("FE_")},
    }
'''


@pytest.fixture
def functions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalFunctions:
    """Two functions of one handler module, both setting FE_LABEL, one FE_ONLY_A; the process
    has FE_LABEL and FE_PROCESS of its own. `os.environ` is put back after the test."""
    monkeypatch.setattr(os, "environ", os.environ)  # restored as it was, wrapper or not
    monkeypatch.setitem(os.environ, "FE_LABEL", "process")
    monkeypatch.setitem(os.environ, "FE_PROCESS", "from the process")
    (tmp_path / "reader.py").write_text(HANDLER)
    specs = [
        FunctionSpec(
            logical_id=logical_id,
            code_uri=tmp_path,
            handler="reader.handler",
            timeout=3,
            memory=128,
            environment={},
        )
        for logical_id in ("A", "B")
    ]
    return LocalFunctions(
        specs,
        {"A": "stack-A", "B": "stack-B"},
        {"A": {"FE_LABEL": "a", "FE_ONLY_A": "only a"}, "B": {"FE_LABEL": "b"}},
    )


def invoke(functions: LocalFunctions, function: str, **event: Any) -> dict[str, Any]:
    result: dict[str, Any] = functions.invoke(function, event)
    return result


def test_a_function_sees_its_own_variables_over_the_processs(functions: LocalFunctions) -> None:
    result = invoke(functions, "A", read=["FE_LABEL", "FE_ONLY_A", "FE_PROCESS"])

    assert result["seen"] == {
        "FE_LABEL": "a",
        "FE_ONLY_A": "only a",
        "FE_PROCESS": "from the process",
    }


def test_two_functions_setting_one_variable_each_see_their_own_value(
    functions: LocalFunctions,
) -> None:
    a = invoke(functions, "A", read=["FE_LABEL", "FE_ONLY_A"])
    b = invoke(functions, "B", read=["FE_LABEL", "FE_ONLY_A"])

    assert a["seen"] == {"FE_LABEL": "a", "FE_ONLY_A": "only a"}
    assert b["seen"] == {"FE_LABEL": "b", "FE_ONLY_A": None}
    assert os.environ["FE_LABEL"] == "process"  # outside any invocation: the process's own


def test_a_write_inside_an_invocation_stays_in_that_invocation(functions: LocalFunctions) -> None:
    invoke(functions, "A", write={"FE_LABEL": "changed", "FE_NEW": "new"})

    assert invoke(functions, "A", read=["FE_LABEL", "FE_NEW"])["seen"] == {
        "FE_LABEL": "a",
        "FE_NEW": None,
    }
    assert os.environ["FE_LABEL"] == "process"
    assert "FE_NEW" not in os.environ


def test_the_environment_lists_each_name_once_inside_an_invocation(
    functions: LocalFunctions,
) -> None:
    result = invoke(functions, "A")

    assert sorted(result["names"]) == ["FE_LABEL", "FE_ONLY_A", "FE_PROCESS"]
    assert result["size_agrees"]
    assert result["copied"] == {
        "FE_LABEL": "a",
        "FE_ONLY_A": "only a",
        "FE_PROCESS": "from the process",
    }


def test_invocations_running_at_once_on_two_threads_each_see_their_own(
    functions: LocalFunctions,
) -> None:
    both_running = threading.Barrier(2, timeout=10)
    results: dict[str, dict[str, Any]] = {}

    def run(function: str) -> None:
        # Each reads its environment only once the other is running too.
        results[function] = invoke(functions, function, read=["FE_LABEL"], wait=both_running.wait)

    threads = [threading.Thread(target=run, args=(name,)) for name in ("A", "B")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert results["A"]["seen"] == {"FE_LABEL": "a"}
    assert results["B"]["seen"] == {"FE_LABEL": "b"}


def test_current_function_names_the_function_whose_code_runs(functions: LocalFunctions) -> None:
    assert invoke(functions, "A")["running"] == "A"
    assert invoke(functions, "B")["running"] == "B"
    assert current_function() is None


def test_outside_any_invocation_the_environment_is_the_processs() -> None:
    process = {"FE_ONE": "1"}
    environment = FunctionEnvironment(process)

    environment["FE_TWO"] = "2"
    del environment["FE_ONE"]

    assert process == {"FE_TWO": "2"}
    assert dict(environment) == {"FE_TWO": "2"}
    assert len(environment) == 1
    assert environment.copy() == {"FE_TWO": "2"}
    with pytest.raises(KeyError):
        environment["FE_ONE"]
