"""Tally's local HubSpot sandbox: an HTTP server that answers like HubSpot's CRM API.

It is a separate system from Tally: standard library only, no Django, no
``requests``. Start it with ``manage.py hubspot_sandbox`` or, in tests, with
``SandboxServer``. See docs/sandbox.md.
"""
