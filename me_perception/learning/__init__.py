"""Model building: data sets, synthetic data, preparation, training, evaluation, metrics."""
