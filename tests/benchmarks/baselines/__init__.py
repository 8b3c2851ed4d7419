"""What a user would write with plain sync boto3 and Powertools, doing each function's AWS work:
the baselines of ``tests.benchmarks.cold_start``. Each is one file with no project imports, so
it can be packaged alone into a Lambda zip."""
