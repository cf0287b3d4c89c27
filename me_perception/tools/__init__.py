"""Command-line tools: offline processing, evaluation through the pipeline, the sample."""
