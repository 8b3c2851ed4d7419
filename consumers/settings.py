"""Settings both consumers share (SPEC §7 names, plus the dead-letter queue for poison)."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from runtime.config import QueueUrl

TableName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{3,255}$")]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class ConsumerSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    dead_letter_queue_url: QueueUrl = Field(alias="DEAD_LETTER_QUEUE_URL")
    log_level: LogLevel = Field(default="INFO", alias="LOG_LEVEL")
    # Records of one batch in flight at once.
    max_concurrency: int = Field(default=10, ge=1, le=100, alias="MAX_CONCURRENCY")
