"""The pipeline's Lambda functions, each declared once.

The bundler (``cfn.bundle``) builds a zip per function from this, the local stack starts its
containers from it (``local``), and the template tests hold ``cfn/functions.yaml`` to it:
handler, timeout and memory are written here and nowhere else in code.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class LambdaFunction:
    name: str  # its zip (``{name}.zip``) and its containers' name on one machine
    handler: str  # Lambda's Handler setting: module.attribute
    timeout_seconds: int
    memory_mb: int
    logical_id: str  # its AWS::Lambda::Function in cfn/functions.yaml
    packages: tuple[str, ...]  # the project's packages in its zip
    aws_services: tuple[str, ...]  # botocore models kept in its zip

    @property
    def handler_module(self) -> str:
        return self.handler.rpartition(".")[0]

    @property
    def entry(self) -> str:
        """``module:attribute``, as the local stack's containers import it."""
        module, _, attribute = self.handler.rpartition(".")
        return f"{module}:{attribute}"

    @property
    def zip_name(self) -> str:
        return f"{self.name}.zip"


ORDER_API = LambdaFunction(
    name="order-api",
    handler="api.handler.handler",
    timeout_seconds=30,
    memory_mb=512,
    logical_id="OrderApiFunction",
    packages=("api", "contracts", "runtime"),
    aws_services=("dynamodb",),
)
ORDER_PUBLISHER = LambdaFunction(
    name="order-publisher",
    handler="api.publisher_function.handler",
    timeout_seconds=30,
    memory_mb=256,
    logical_id="PublisherFunction",
    packages=("api", "contracts", "runtime"),
    aws_services=("sns", "sqs"),
)
EMAIL_CONSUMER = LambdaFunction(
    name="email-consumer",
    handler="consumers.email.handler.handler",
    timeout_seconds=60,
    memory_mb=256,
    logical_id="EmailFunction",
    packages=("consumers", "contracts", "runtime"),
    aws_services=("dynamodb", "sqs", "sesv2", "secretsmanager"),
)
AUDIT_CONSUMER = LambdaFunction(
    name="audit-consumer",
    handler="consumers.audit.handler.handler",
    timeout_seconds=30,
    memory_mb=256,
    logical_id="AuditFunction",
    packages=("consumers", "contracts", "runtime"),
    aws_services=("dynamodb", "sqs"),
)
FUNCTIONS = (ORDER_API, ORDER_PUBLISHER, EMAIL_CONSUMER, AUDIT_CONSUMER)
