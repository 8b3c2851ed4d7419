"""Order API settings, named as in SPEC §7. The API only writes the Orders table: its stream
publishes the events (``api.publisher_function``), so it needs no topic."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

TableName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{3,255}$")]
TopicArn = Annotated[
    str, Field(pattern=r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$")
]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class ApiSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    order_table_name: TableName = Field(alias="ORDER_TABLE_NAME")
    log_level: LogLevel = Field(default="INFO", alias="LOG_LEVEL")
    # Time a request may spend on AWS calls, retries included; well inside the 30 s timeout.
    request_budget_seconds: float = Field(default=20.0, gt=0, le=28, alias="REQUEST_BUDGET_SECONDS")
    cors_allow_origin: str = Field(default="*", min_length=1, alias="CORS_ALLOW_ORIGIN")
