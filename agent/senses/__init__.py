"""One folder per sense (source, preprocessing, scorer, evidence) and the registry of senses."""
