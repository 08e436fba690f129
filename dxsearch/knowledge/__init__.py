"""Medical knowledge loaded from release files shipped offline: HPO, its annotations, Disease Ontology."""
