"""Append-only, hash-chained audit log of diagnostic traces, with stores, queries and verification.

Imports nothing else of the project. Empty until the serving issue lands; the
package exists so the distribution's layout is settled.
"""
