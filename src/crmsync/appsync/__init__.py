"""The app sync API's logic: WatermelonDB's sync protocol over a tenant's canonical store.

- :mod:`.schema`: the one app schema (``app_schema.json``) and the canonical ⇄ app value encodings;
- :mod:`.changefeed`: a monotonic change sequence over the canonical tables, and the pull answer;
- :mod:`.outgoing`: an app's pushed changes, merged per field through the engine's conflict code;
- :mod:`.settings`, :mod:`.tokens`: configuration and JWT checks; :mod:`.tenants`: a project per tenant.
"""
