"""CloudFormation templates of the pipeline and the builder of its Lambda zips."""
