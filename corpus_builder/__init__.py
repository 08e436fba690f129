"""corpus-builder: turn sources (HPO disease annotations, FHIR bundles, case files,
guideline documents) into a versioned, reproducible hybrid index."""
