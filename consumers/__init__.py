"""The two downstream workflows of the pipeline, each an SQS-triggered Lambda function.

Powertools' batch utility is imported here, before anything imports pydantic: when it finds
pydantic already imported it also builds its parser's event models (Kafka, Kinesis, DynamoDB
streams, ~15 ms of a cold start) for type hints of a feature these functions do not use.
"""

import aws_lambda_powertools.utilities.batch  # noqa: F401 - first: see above
