"""What the local gateway serves of storefront/ (and what it never reads), the local sign-in's
refusals, and the config.json a deploy writes from the template's outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from shop_local.auth import LocalIdentityProvider
from shop_local.deploy_storefront import storefront_config
from shop_local.lint_template import translate
from shop_local.storefront import STOREFRONT_DIR, StaticSite, sign_in

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def site(tmp_path: Path) -> StaticSite:
    (tmp_path / "site" / "js").mkdir(parents=True)
    (tmp_path / "site" / "index.html").write_text("<!doctype html>")
    (tmp_path / "site" / "js" / "app.js").write_text("export {}")
    (tmp_path / "site" / ".hidden.js").write_text("secret")
    (tmp_path / "site" / "notes.md").write_text("not served")
    (tmp_path / "secret.txt").write_text("outside")
    (tmp_path / "site" / "link.txt").symlink_to(tmp_path / "secret.txt")
    return StaticSite(tmp_path / "site")


def test_the_index_and_assets_are_served_with_their_types(site: StaticSite) -> None:
    index = site.find("/")
    assert index is not None
    assert index.content_type == "text/html; charset=utf-8"
    script = site.find("/js/app.js")
    assert script is not None
    assert script.body == b"export {}"
    assert script.headers()["Content-Type"] == "text/javascript; charset=utf-8"
    assert script.headers()["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/js/../../secret.txt",
        "/link.txt",  # a symlink out of the folder
        "/.hidden.js",
        "/notes.md",  # a type the storefront has none of
        "/js",
        "/js//app.js",
        "/index.html%00.js",
        "/js\\..\\..\\secret.txt",
        "/missing.js",
    ],
)
def test_nothing_outside_the_folder_or_unlisted_is_served(site: StaticSite, path: str) -> None:
    assert site.find(path) is None


def test_the_real_storefront_has_its_entry_points() -> None:
    site = StaticSite(STOREFRONT_DIR)
    for path in ("/", "/styles.css", "/js/app.js", "/config.json", "/favicon.svg"):
        assert site.find(path) is not None, path


def test_local_sign_in_gives_a_shoppers_token_and_refuses_bad_bodies(tmp_path: Path) -> None:
    identity = LocalIdentityProvider(tmp_path)
    status, body = sign_in(identity, b'{"username": "ann"}')
    assert status == 200
    claims = identity.verify(body["id_token"])
    assert claims["cognito:username"] == "ann"
    assert "cognito:groups" not in claims  # never an administrator
    for refused, expected in (
        (b"", 400),
        (b"{", 400),
        (b'"ann"', 400),
        (b'{"username": "ann", "groups": ["admin"]}', 400),
        (b'{"username": null}', 422),
        (b'{"username": "a b"}', 422),
    ):
        assert sign_in(identity, refused)[0] == expected, refused


def test_the_deployed_config_comes_from_outputs_the_template_has() -> None:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    outputs = yaml.load((ROOT / "template.yaml").read_text(), Loader=Loader)["Outputs"]
    values = {name: f"<{name}>" for name in outputs}
    config = storefront_config(values, "pk_test_1")
    assert config["auth"] == {
        "mode": "cognito",
        "domain": "<UserPoolHostedUi>",
        "client_id": "<UserPoolClientId>",
        "redirect_uri": "<StorefrontUrl>",
    }
    assert config["api_base"] == "<ApiCdnUrl>"  # the edge cache, when the stack has one
    del values["ApiCdnUrl"]
    assert storefront_config(values, "pk_test_1")["api_base"] == "<ApiUrl>"
    local = json.loads((STOREFRONT_DIR / "config.json").read_text())
    assert set(local) == set(config)


def test_the_storefront_bucket_is_private_encrypted_kept_and_read_by_its_distribution_only() -> (
    None
):
    resources = translate(ROOT / "template.yaml")["Resources"]
    bucket = resources["StorefrontBucket"]
    assert (bucket["DeletionPolicy"], bucket["UpdateReplacePolicy"]) == ("Retain", "Retain")
    props = bucket["Properties"]
    assert set(props["PublicAccessBlockConfiguration"].values()) == {True}
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    statements = resources["StorefrontBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (read,) = [s for s in statements if s["Effect"] == "Allow"]
    assert read["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert read["Action"] == "s3:GetObject"
    assert "StorefrontDistribution" in json.dumps(read["Condition"])  # this one only
    (deny,) = [s for s in statements if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    config = resources["StorefrontDistribution"]["Properties"]["DistributionConfig"]
    (origin,) = config["Origins"]
    assert origin["OriginAccessControlId"] == {
        "Fn::GetAtt": ["StorefrontOriginAccessControl", "Id"]
    }
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "https-only"
    assert config["DefaultCacheBehavior"]["AllowedMethods"] == ["GET", "HEAD"]
    client = resources["UserPoolClient"]["Properties"]
    assert client["AllowedOAuthFlows"] == ["code"]  # with PKCE: no implicit tokens in URLs
    assert client["GenerateSecret"] is False
    assert "StorefrontDistribution.DomainName" in json.dumps(client["CallbackURLs"])
