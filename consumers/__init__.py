"""The two downstream workflows of the pipeline, each an SQS-triggered Lambda function."""
