"""cfn-lint the SAM template and its translation by aws-sam-translator.

cfn-lint transforms SAM templates itself, but some errors (a circular dependency, seen here) only
show in the CloudFormation that SAM really deploys, so the translated form is linted too.
Runs offline: the managed policies SAM looks up are given from a fixed table.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import boto3
from cfnlint.decode import decode
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

# What SAM's policy templates and Tracing refer to; looked up in IAM when online.
_MANAGED_POLICIES = {
    name: f"arn:aws:iam::aws:policy/{path}{name}"
    for name, path in {
        "AWSLambdaBasicExecutionRole": "service-role/",
        "AWSXrayWriteOnlyAccess": "",
        "AWSXRayDaemonWriteAccess": "",
        "AWSLambdaDynamoDBExecutionRole": "service-role/",
        "AWSLambdaSQSQueueExecutionRole": "service-role/",
        "AWSLambdaRole": "service-role/",
    }.items()
}


class _OfflinePolicyLoader:
    def load(self) -> dict[str, str]:
        return dict(_MANAGED_POLICIES)


def translate(template_path: Path) -> dict[str, Any]:
    template, matches = decode(str(template_path))
    if matches or template is None:
        raise SystemExit(f"cannot parse {template_path}: {matches}")
    template = json.loads(json.dumps(template))
    # `sam package` would upload local code and put its S3 location here.
    sections = [r.get("Properties") or {} for r in template.get("Resources", {}).values()]
    sections += list((template.get("Globals") or {}).values())
    for properties in sections:
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            if isinstance(properties.get(key), str):
                properties[key] = f"s3://shop-artifacts/{properties[key].strip('/')}"
    translator = Translator(
        None, Parser(), boto_session=boto3.session.Session(region_name="eu-west-1")
    )
    translated: dict[str, Any] = translator.translate(
        template,
        parameter_values={},
        get_managed_policy_map=_OfflinePolicyLoader().load,
    )
    return translated


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    template_path = Path(args[0] if args else "template.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        translated_path = Path(tmp) / "translated.json"
        translated_path.write_text(json.dumps(translate(template_path), indent=1))
        status = 0
        for path in (template_path, translated_path):
            result = subprocess.run(
                [str(Path(sys.executable).with_name("cfn-lint")), str(path)],
                capture_output=True,
                text=True,
            )
            print(f"cfn-lint {path.name}: {'ok' if result.returncode == 0 else 'FAILED'}")
            if result.returncode != 0:
                print(result.stdout, result.stderr)
                status = 1
    return status


if __name__ == "__main__":
    raise SystemExit(main())
