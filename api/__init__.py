"""The FastAPI service: diagnose, traces, corpus info, CDS Hooks, and the clinician/auditor viewer.

Imports ``dxsearch`` and ``audit`` (and ``corpus_builder``'s FHIR reader), never the other way round.
Entry points: :func:`api.app.create_app` builds the app, :func:`api.serve.serve` runs it with uvicorn.
Modules: ``auth`` (keys, roles), ``limits`` (body size, rate limit), ``logging`` (structlog, request
ids, no PHI), ``intake`` (request -> ``Case``), ``service`` (diagnose -> audit record), ``routes``
(``/v1``, probes), ``cds`` (CDS Hooks), ``viewer`` (static pages at ``/viewer/`` under a strict CSP).
Nothing is imported here, so ``import api`` stays cheap.
"""
