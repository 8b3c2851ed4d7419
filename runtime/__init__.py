"""What every Lambda function of the pipeline shares: one event loop per container, lazily
created aioboto3 clients, the retry policy, configuration loading and log masking."""
