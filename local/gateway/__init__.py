"""API Gateway's front on one machine: the REST proxy integration, its throttle and its proxy events."""
