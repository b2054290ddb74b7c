"""Connections: one account of one CRM plus its encrypted credentials, and their token lifecycle.

The one thing a reader or writer needs is :func:`crmsync.connections.session.authorized_session`.
"""
