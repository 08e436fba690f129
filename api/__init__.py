"""The FastAPI service: diagnose, traces, corpus info, CDS Hooks and the clinician viewer.

Imports ``dxsearch`` and ``audit``, never the other way round. Empty until the
serving issue lands; the package exists so the distribution's layout is settled.
"""
