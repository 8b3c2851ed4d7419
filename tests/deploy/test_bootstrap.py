"""cfn/bootstrap/github-oidc.yaml: whom each role trusts and what it may do, evaluated for
every environment, and that CloudFormation's role covers every resource the stacks declare."""

import fnmatch
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.cfn import TEMPLATES, Resolver, template
from tests.support.commands import run

BOOTSTRAP = "bootstrap/github-oidc.yaml"
ACCOUNT, REGION = "123456789012", "eu-west-1"
PSEUDO = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}
GITHUB = {"GitHubOwner": "acme", "GitHubRepository": "order-pipeline"}
ENVIRONMENTS = {"dev": "dev", "staging": "staging", "prod": "production"}

# What CloudFormation calls to create each resource type the stacks declare, and an ARN of
# such a resource in environment {env} (as the templates name them).
CREATES = {
    "AWS::DynamoDB::Table": ("dynamodb:CreateTable", "arn:aws:dynamodb:{r}:{a}:table/{env}-Orders"),
    "AWS::SQS::Queue": ("sqs:CreateQueue", "arn:aws:sqs:{r}:{a}:{env}-OrderEmailQueue"),
    "AWS::SQS::QueuePolicy": (
        "sqs:SetQueueAttributes",
        "arn:aws:sqs:{r}:{a}:{env}-OrderAuditQueue",
    ),
    "AWS::SNS::Topic": ("sns:CreateTopic", "arn:aws:sns:{r}:{a}:{env}-OrderEvents"),
    "AWS::XRay::SamplingRule": (
        "xray:CreateSamplingRule",
        "arn:aws:xray:{r}:{a}:sampling-rule/{env}-OrderApi",
    ),
    "AWS::S3::Bucket": ("s3:CreateBucket", "arn:aws:s3:::{env}-order-publisher-failures-{a}-{r}"),
    "AWS::S3::BucketPolicy": (
        "s3:PutBucketPolicy",
        "arn:aws:s3:::{env}-order-publisher-failures-{a}-{r}",
    ),
    "AWS::SNS::TopicPolicy": ("sns:SetTopicAttributes", "arn:aws:sns:{r}:{a}:{env}-OrderEvents"),
    "AWS::SNS::Subscription": ("sns:Subscribe", "arn:aws:sns:{r}:{a}:{env}-OrderEvents"),
    "AWS::Lambda::Function": (
        "lambda:CreateFunction",
        "arn:aws:lambda:{r}:{a}:function:{env}-OrderApi",
    ),
    "AWS::Lambda::Version": (
        "lambda:PublishVersion",
        "arn:aws:lambda:{r}:{a}:function:{env}-OrderAudit",
    ),
    "AWS::Lambda::Alias": (
        "lambda:CreateAlias",
        "arn:aws:lambda:{r}:{a}:function:{env}-OrderEmail",
    ),
    "AWS::Lambda::Permission": (
        "lambda:AddPermission",
        "arn:aws:lambda:{r}:{a}:function:{env}-OrderApi:live",
    ),
    "AWS::Lambda::EventSourceMapping": (
        "lambda:GetEventSourceMapping",
        "arn:aws:lambda:{r}:{a}:event-source-mapping:0b8f6a52-3c1e-4d57",
    ),
    "AWS::IAM::Role": (
        "iam:CreateRole",
        "arn:aws:iam::{a}:role/{env}-order-pipeline-Functions-X-OrderApiRole-Y",
    ),
    "AWS::Logs::LogGroup": (
        "logs:CreateLogGroup",
        "arn:aws:logs:{r}:{a}:log-group:/aws/lambda/{env}-OrderApi",
    ),
    "AWS::ApiGateway::RestApi": ("apigateway:POST", "arn:aws:apigateway:{r}::/restapis"),
    "AWS::ApiGateway::Resource": (
        "apigateway:POST",
        "arn:aws:apigateway:{r}::/restapis/abc/resources/def",
    ),
    "AWS::ApiGateway::Method": (
        "apigateway:PUT",
        "arn:aws:apigateway:{r}::/restapis/abc/resources/def/methods/POST",
    ),
    "AWS::ApiGateway::Deployment": (
        "apigateway:POST",
        "arn:aws:apigateway:{r}::/restapis/abc/deployments",
    ),
    "AWS::ApiGateway::Stage": ("apigateway:POST", "arn:aws:apigateway:{r}::/restapis/abc/stages"),
    "AWS::ApiGateway::GatewayResponse": (
        "apigateway:PUT",
        "arn:aws:apigateway:{r}::/restapis/abc/gatewayresponses/THROTTLED",
    ),
    "AWS::ApiGateway::Account": ("apigateway:PATCH", "arn:aws:apigateway:{r}::/account"),
    "AWS::ApiGateway::ApiKey": ("apigateway:POST", "arn:aws:apigateway:{r}::/apikeys"),
    "AWS::ApiGateway::UsagePlan": ("apigateway:POST", "arn:aws:apigateway:{r}::/usageplans"),
    "AWS::ApiGateway::UsagePlanKey": (
        "apigateway:POST",
        "arn:aws:apigateway:{r}::/usageplans/abc/keys",
    ),
    "AWS::CloudWatch::Alarm": (
        "cloudwatch:PutMetricAlarm",
        "arn:aws:cloudwatch:{r}:{a}:alarm:{env}-OrderApi-error-rate",
    ),
    "AWS::CloudWatch::Dashboard": (
        "cloudwatch:PutDashboard",
        "arn:aws:cloudwatch::{a}:dashboard/{env}-OrderPipeline",
    ),
    "AWS::KMS::Key": ("kms:PutKeyPolicy", "arn:aws:kms:{r}:{a}:key/1234abcd"),
    "AWS::CloudFormation::Stack": (
        "cloudformation:CreateStack",
        "arn:aws:cloudformation:{r}:{a}:stack/{env}-order-pipeline-Functions-X/id",
    ),
}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


class Policy:
    """Allow statements of a role's inline policies, resolved for one environment. The roles
    use only Allow; a request is allowed when a statement's action, resource and (StringEquals,
    ArnLike) conditions match."""

    def __init__(self, role: dict[str, Any]):
        self.statements = [
            statement
            for policy in role["Properties"].get("Policies", [])
            for statement in policy["PolicyDocument"]["Statement"]
        ]

    def allows(self, action: str, resource: str, context: dict[str, str] | None = None) -> bool:
        context = context or {}
        for statement in self.statements:
            assert statement["Effect"] == "Allow"
            if not any(fnmatch.fnmatchcase(action, a) for a in _list(statement["Action"])):
                continue
            if not any(fnmatch.fnmatchcase(resource, r) for r in _list(statement["Resource"])):
                continue
            if all(
                any(fnmatch.fnmatchcase(context.get(key, ""), str(v)) for v in _list(value))
                for test in statement.get("Condition", {}).values()
                for key, value in test.items()
            ):
                return True
        return False


def _resolved(environment: str, **parameters: str) -> dict[str, Any]:
    resolver = Resolver(
        BOOTSTRAP, {"EnvironmentName": environment, **GITHUB, **PSEUDO, **parameters}
    )
    resources = {}
    for logical_id, resource in template(BOOTSTRAP)["Resources"].items():
        if "Condition" in resource and not resolver.condition(resource["Condition"]):
            continue
        resources[logical_id] = resolver(resource)
    return resources


def test_cfn_lint_finds_nothing_in_the_bootstrap_template() -> None:
    cfn_lint = str(Path(sys.executable).parent / "cfn-lint")
    result = run(cfn_lint, "--", str(Path("cfn") / BOOTSTRAP), timeout=120)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize("environment", sorted(ENVIRONMENTS))
@pytest.mark.parametrize("immutable", [False, True])
def test_each_role_trusts_only_this_repository_in_its_github_environment(
    environment: str, immutable: bool
) -> None:
    ids = {"GitHubOwnerId": "1001", "GitHubRepositoryId": "2002"} if immutable else {}
    resources = _resolved(environment, **ids)
    repo = "repo:acme@1001/order-pipeline@2002" if immutable else "repo:acme/order-pipeline"
    expected = {"DeployRole": f"{repo}:environment:{ENVIRONMENTS[environment]}"}
    if environment == "prod":
        expected["PlanRole"] = f"{repo}:environment:production-plan"
    federated = [
        name
        for name, resource in resources.items()
        if resource["Type"] == "AWS::IAM::Role"
        and "Federated"
        in resource["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
    ]
    assert sorted(federated) == sorted(expected)
    for name, subject in expected.items():
        (statement,) = resources[name]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert statement["Principal"] == {"Federated": "GitHubOidcProvider"}
        assert statement["Condition"] == {
            "StringEquals": {
                "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                "token.actions.githubusercontent.com:sub": subject,
            }
        }


def test_an_existing_provider_and_bucket_are_used_instead_of_new_ones() -> None:
    provider = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
    resources = _resolved(
        "staging", ExistingOidcProviderArn=provider, ExistingArtifactBucket="acme-artifacts"
    )
    assert "GitHubOidcProvider" not in resources
    assert "ArtifactBucket" not in resources
    trust = resources["DeployRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Federated": provider}
    deploy = Policy(resources["DeployRole"])
    assert deploy.allows("s3:GetObject", "arn:aws:s3:::acme-artifacts/order-pipeline/abc.zip")
    # Only dev uploads (packages) artifacts; staging and prod promote them.
    assert not deploy.allows("s3:PutObject", "arn:aws:s3:::acme-artifacts/order-pipeline/x")
    dev = Policy(_resolved("dev", ExistingArtifactBucket="acme-artifacts")["DeployRole"])
    assert dev.allows("s3:PutObject", "arn:aws:s3:::acme-artifacts/order-pipeline/x")


@pytest.mark.parametrize("environment", sorted(ENVIRONMENTS))
def test_cloudformations_role_covers_every_resource_of_its_environment_only(
    environment: str,
) -> None:
    role = Policy(_resolved(environment)["CloudFormationRole"])
    declared = {
        resource["Type"] for name in TEMPLATES for resource in template(name)["Resources"].values()
    }
    unknown = declared - set(CREATES)
    assert not unknown, (
        f"the stacks declare {sorted(unknown)}: allow them in CloudFormationRole "
        "(cfn/bootstrap/github-oidc.yaml) and add them to CREATES here"
    )
    tag = {"aws:RequestTag/order-pipeline:environment": environment}
    tag["aws:ResourceTag/order-pipeline:environment"] = environment
    other = "staging" if environment != "staging" else "prod"
    for kind in sorted(declared):
        action, arn = CREATES[kind]
        context = tag | {
            "lambda:FunctionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{environment}-OrderApi"
        }
        mine = arn.format(r=REGION, a=ACCOUNT, env=environment)
        assert role.allows(action, mine, context), (kind, action, mine)
        if "{env}" in arn:
            theirs = arn.format(r=REGION, a=ACCOUNT, env=other)
            assert not role.allows(action, theirs, context), (kind, action, theirs)
    # Keys: new ones only with the environment's tag, existing ones only if they carry it.
    assert role.allows("kms:CreateKey", "*", tag)
    other_tag = {"aws:RequestTag/order-pipeline:environment": other}
    assert not role.allows("kms:CreateKey", "*", other_tag)
    key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1"
    assert not role.allows("kms:ScheduleKeyDeletion", key, other_tag)


def test_no_role_can_change_the_roles_of_the_bootstrap() -> None:
    """CloudFormation's role manages the stack's roles ({env}-order-pipeline-*), never the
    bootstrap's own (github-deploy-*, cloudformation-*): no way to raise its own rights."""
    for environment in ENVIRONMENTS:
        resources = _resolved(environment)
        names = {
            resource["Properties"]["RoleName"]
            for resource in resources.values()
            if resource["Type"] == "AWS::IAM::Role"
        }
        for resource in resources.values():
            if resource["Type"] != "AWS::IAM::Role":
                continue
            policy = Policy(resource)
            for name in names:
                arn = f"arn:aws:iam::{ACCOUNT}:role/{name}"
                for action in (
                    "iam:PutRolePolicy",
                    "iam:AttachRolePolicy",
                    "iam:UpdateAssumeRolePolicy",
                ):
                    assert not policy.allows(action, arn), (environment, name, action)


@pytest.mark.parametrize("environment", sorted(ENVIRONMENTS))
def test_deploy_roles_make_change_sets_of_their_own_stack_and_nothing_else(
    environment: str,
) -> None:
    resources = _resolved(environment)
    deploy = Policy(resources["DeployRole"])
    stack = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{environment}-order-pipeline/1"
    nested = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{environment}-order-pipeline-Api-X/1"
    other = "dev" if environment != "dev" else "prod"
    theirs = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{other}-order-pipeline/1"
    for action in ("cloudformation:CreateChangeSet", "cloudformation:ExecuteChangeSet"):
        assert deploy.allows(action, stack)
        assert deploy.allows(action, nested)
        assert not deploy.allows(action, theirs)
    # It creates nothing itself, and passes only CloudFormation's role, only to CloudFormation.
    assert not deploy.allows(
        "dynamodb:CreateTable", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{environment}-Orders"
    )
    assert not deploy.allows(
        "lambda:UpdateFunctionCode",
        f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{environment}-OrderApi",
    )
    cfn_role = f"arn:aws:iam::{ACCOUNT}:role/cloudformation-{environment}-order-pipeline"
    service = {"iam:PassedToService": "cloudformation.amazonaws.com"}
    assert deploy.allows("iam:PassRole", "CloudFormationRole.Arn", service)
    assert not deploy.allows(
        "iam:PassRole", cfn_role, {"iam:PassedToService": "lambda.amazonaws.com"}
    )
    # What `orders smoke --stack` reads afterwards.
    assert deploy.allows(
        "dynamodb:Query",
        f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{environment}-AuditLogs/index/OrderIdIndex",
    )
    assert deploy.allows("apigateway:GET", f"arn:aws:apigateway:{REGION}::/apikeys/abc")
    if environment == "prod":
        plan = Policy(resources["PlanRole"])
        assert plan.allows("cloudformation:CreateChangeSet", stack)
        assert not plan.allows("cloudformation:ExecuteChangeSet", stack)


def test_no_statement_allows_every_action() -> None:
    for environment in ENVIRONMENTS:
        for resource in _resolved(environment).values():
            if resource["Type"] != "AWS::IAM::Role":
                continue
            for statement in Policy(resource).statements:
                assert "*" not in _list(statement["Action"])
                if statement["Resource"] == "*":
                    assert "Condition" in statement, statement
