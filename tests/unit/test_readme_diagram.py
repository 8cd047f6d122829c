"""The README's diagram is the template's event backbone, not a picture that drifts from it:
every rule, every queue a function consumes (and its DLQ), every consumer and every stream
publisher appears in it by its logical id."""

from __future__ import annotations

import re
from pathlib import Path

from shop_local.template import Template

REPO = Path(__file__).resolve().parents[2]


def diagram() -> str:
    readme = (REPO / "README.md").read_text()
    match = re.search(r"```mermaid\n(.*?)```", readme, re.DOTALL)
    assert match, "the README has no mermaid diagram"
    return match.group(1)


def backbone() -> set[str]:
    template = Template(REPO / "template.yaml")
    names = set(template.of_type("AWS::Events::Rule"))
    for spec in template.functions():
        for event in spec.events.values():
            if event.get("Type") not in ("SQS", "DynamoDB"):
                continue
            names.add(spec.logical_id)
            if event["Type"] == "SQS":
                queue = event["Properties"]["Queue"]["Fn::GetAtt"][0]
                names.add(queue)
                redrive = template.resources[queue]["Properties"].get("RedrivePolicy", {})
                if redrive:
                    names.add(redrive["deadLetterTargetArn"]["Fn::GetAtt"][0])
    return names


def test_the_readme_diagram_shows_every_rule_queue_and_consumer_of_the_template() -> None:
    drawn = set(re.findall(r"[A-Za-z]+", diagram()))
    missing = sorted(backbone() - drawn)
    assert not missing, f"README.md's diagram lacks {missing}"
